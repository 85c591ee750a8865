// The VM list: refreshed every two seconds, one row per VM with its state and actions.
import { api, badge, actionButtons, toast } from '/static/common.js';

const body = document.querySelector('#vms tbody');
const rows = new Map();

function cell(row, i) {
  while (row.cells.length <= i) row.insertCell();
  return row.cells[i];
}

function render(vms) {
  document.getElementById('empty').hidden = vms.length > 0;
  const seen = new Set();
  for (const vm of vms) {
    seen.add(vm.name);
    let row = rows.get(vm.name);
    if (!row) {
      row = body.insertRow();
      row.dataset.vm = vm.name;
      const a = document.createElement('a');
      a.href = '/vm/' + encodeURIComponent(vm.name);
      a.textContent = vm.name;
      cell(row, 0).append(a);
      const s = document.createElement('span');
      cell(row, 1).append(s);
      cell(row, 5).className = 'actions';
      rows.set(vm.name, row);
    }
    badge(cell(row, 1).firstChild, vm.state);
    cell(row, 2).textContent = vm.vcpu_count ?? '';
    cell(row, 3).textContent = vm.mem_size_mib == null ? '' : vm.mem_size_mib + ' MiB';
    cell(row, 4).textContent = vm.started_at ? new Date(vm.started_at).toLocaleString() : '—';
    const actions = cell(row, 5);
    if (actions.dataset.busy !== '1') actionButtons(actions, vm, refresh);
  }
  for (const [name, row] of rows) {
    if (!seen.has(name)) { row.remove(); rows.delete(name); }
  }
}

async function refresh() {
  try {
    render(await api('GET', '/vms'));
  } catch (e) {
    toast(e.message);
  }
}

refresh();
setInterval(refresh, 2000);
