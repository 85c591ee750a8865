// Login: a console-url link carries its token after '#', which browsers never send to a server
// (so it stays out of logs); it is copied into the form, removed from the address bar, and sent.
'use strict';
document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('login');
  const input = document.getElementById('token');
  if (new URLSearchParams(location.search).has('failed')) {
    document.getElementById('failed').hidden = false;
  }
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (m) {
    history.replaceState(null, '', location.pathname);
    input.value = decodeURIComponent(m[1]);
    form.requestSubmit();
  }
  form.addEventListener('submit', () => form.querySelector('button').disabled = true);
});
