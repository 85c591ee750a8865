// What the list and VM pages share: calls to the console's API, state badges, action buttons.
'use strict';

// Which actions make sense in which state (the daemon refuses the others with 409 anyway).
const ALLOWED = {
  start: ['stopped'],
  stop: ['running', 'paused'],
  pause: ['running'],
  resume: ['paused'],
  snapshot: ['running', 'paused'],
};
const LABELS = { start: 'Start', stop: 'Stop', pause: 'Pause', resume: 'Resume', snapshot: 'Snapshot' };

export async function api(method, path) {
  const r = await fetch('/api' + path, {
    method,
    credentials: 'same-origin',
    headers: { 'Accept': 'application/json' },
  });
  if (r.status === 401) {
    location.href = '/login';
    throw new Error('logged out');
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.fault_message || `${method} ${path}: HTTP ${r.status}`);
  return body;
}

export function badge(el, state) {
  el.textContent = state;
  el.className = 'badge state-' + state;
}

let toastTimer;
export function toast(message, kind = 'error') {
  const t = document.getElementById('toast');
  t.textContent = message;
  t.className = 'toast ' + kind;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, kind === 'error' ? 8000 : 4000);
}

/**
 * Fills `container` with one button per action for VM `vm`. While one runs, every button of the
 * VM is disabled and the clicked one says so; `done(status)` gets the VM's new status.
 */
export function actionButtons(container, vm, done) {
  container.replaceChildren();
  for (const action of Object.keys(ALLOWED)) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = LABELS[action];
    b.dataset.action = action;
    b.className = 'small' + (action === 'stop' ? ' danger' : '');
    b.disabled = container.dataset.busy === '1' || !ALLOWED[action].includes(vm.state);
    b.addEventListener('click', async () => {
      container.dataset.busy = '1';
      for (const other of container.querySelectorAll('button')) other.disabled = true;
      b.classList.add('busy');
      b.textContent = LABELS[action] + '…';
      try {
        const status = await api('POST', `/vms/${encodeURIComponent(vm.name)}/${action}`);
        if (action === 'snapshot') toast(`Snapshot of ${vm.name} saved; it stays paused.`, 'info');
        container.dataset.busy = '';
        done(status);
      } catch (e) {
        container.dataset.busy = '';
        toast(e.message);
        done(null);
      }
    });
    container.append(b);
  }
}
