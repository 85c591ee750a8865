// xterm.js adds <style> elements; the page's Content-Security-Policy admits only those carrying
// this response's nonce, so every <style> made through document.createElement gets it.
'use strict';
(() => {
  const meta = document.querySelector('meta[name="jkvm-style-nonce"]');
  const nonce = meta && meta.content;
  if (!nonce) return;
  const create = Document.prototype.createElement;
  Document.prototype.createElement = function (tag, options) {
    const el = create.call(this, tag, options);
    if (String(tag).toLowerCase() === 'style') el.setAttribute('nonce', nonce);
    return el;
  };
})();
