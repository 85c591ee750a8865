// One VM: its state and actions, its serial console (xterm.js) and its screen (noVNC), each over
// a WebSocket the daemon joins byte-for-byte to the VM's socket.
import { Terminal } from '/assets/xterm/lib/xterm.mjs';
import { FitAddon } from '/assets/addon-fit/lib/addon-fit.mjs';
import RFB from '/assets/novnc/core/rfb.js';
import { api, badge, actionButtons, toast } from '/static/common.js';

const name = decodeURIComponent(location.pathname.split('/')[2] || '');
const wsBase = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/' + encodeURIComponent(name);
document.getElementById('name').textContent = name;
document.title = 'jkvm · ' + name;

function pill(id, text, kind) {
  const p = document.getElementById(id);
  p.textContent = text;
  p.className = 'pill ' + (kind || '');
}

// --- serial console ---------------------------------------------------------------------------
document.getElementById('terminal-missing').remove();
const term = new Terminal({
  cursorBlink: true,
  fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
  fontSize: 14,
  scrollback: 5000,
  theme: { background: '#0d1117', foreground: '#e6edf3', cursor: '#58a6ff', selectionBackground: '#264f78' },
});
const fit = new FitAddon();
term.loadAddon(fit);
term.open(document.getElementById('terminal'));
fit.fit();
new ResizeObserver(() => fit.fit()).observe(document.getElementById('terminal'));

const encoder = new TextEncoder();
let consoleSocket = null;

function connectConsole() {
  document.getElementById('console-reconnect').hidden = true;
  pill('console-status', 'connecting…');
  const ws = new WebSocket(wsBase + '/console');
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => { pill('console-status', 'connected', 'ok'); term.focus(); };
  ws.onmessage = (e) => term.write(new Uint8Array(e.data));
  ws.onclose = () => {
    if (consoleSocket === ws) consoleSocket = null;
    pill('console-status', 'disconnected', 'off');
    document.getElementById('console-reconnect').hidden = false;
  };
  consoleSocket = ws;
}
term.onData((d) => { if (consoleSocket && consoleSocket.readyState === WebSocket.OPEN) consoleSocket.send(encoder.encode(d)); });
term.onBinary((d) => {
  if (consoleSocket && consoleSocket.readyState === WebSocket.OPEN) consoleSocket.send(Uint8Array.from(d, (c) => c.charCodeAt(0)));
});
document.getElementById('console-reconnect').addEventListener('click', connectConsole);

// --- display ----------------------------------------------------------------------------------
let rfb = null;

function connectDisplay() {
  document.getElementById('no-display').hidden = true;
  pill('display-status', 'connecting…');
  rfb = new RFB(document.getElementById('screen'), wsBase + '/vnc', { wsProtocols: ['binary'] });
  rfb.scaleViewport = true;
  rfb.background = '#0d1117';
  rfb.addEventListener('connect', () => pill('display-status', 'connected', 'ok'));
  rfb.addEventListener('disconnect', () => {
    rfb = null;
    pill('display-status', 'no display', 'off');
    document.getElementById('no-display').hidden = false;
  });
  rfb.addEventListener('credentialsrequired', () => pill('display-status', 'asks for a password', 'off'));
}

// --- state and actions ------------------------------------------------------------------------
const actions = document.getElementById('actions');

function show(vm) {
  badge(document.getElementById('state'), vm.state);
  if (actions.dataset.busy !== '1') actionButtons(actions, vm, (s) => (s ? show(s) : refresh()));
  if (vm.console && !consoleSocket && document.getElementById('console-reconnect').hidden) connectConsole();
  if (!vm.console && !consoleSocket) {
    pill('console-status', vm.state === 'stopped' ? 'VM stopped' : 'not available', 'off');
    document.getElementById('console-reconnect').hidden = true;
  }
  if (vm.display && !rfb) connectDisplay();
  if (!vm.display && !rfb) pill('display-status', 'no display', 'off');
}

async function refresh() {
  try {
    show(await api('GET', '/vms/' + encodeURIComponent(name)));
  } catch (e) {
    toast(e.message);
  }
}

refresh();
setInterval(refresh, 3000);
