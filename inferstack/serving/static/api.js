// What both pages share: `el` (an element with its text set as text, never parsed as HTML) and
// calls to the gateway's public API. When auth is on, a 401 asks for the API key once; the key is
// kept in this tab's sessionStorage only (gone when the tab closes).
"use strict";

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

const Api = (() => {
  const KEY = "inferstack.api_key";
  let dialog = null;

  function key() {
    return sessionStorage.getItem(KEY);
  }

  // The key dialog, built on first use: a labelled password field in a modal form.
  function keyDialog() {
    if (dialog) return dialog;
    dialog = el("dialog");
    dialog.setAttribute("aria-labelledby", "key-title");
    const form = el("form");
    form.method = "dialog";
    const heading = el("h2", "API key");
    heading.id = "key-title";
    const message = el("p", "", "hint");
    message.id = "key-message";
    const label = el("label", "Key");
    label.htmlFor = "api-key";
    const input = el("input");
    Object.assign(input, { id: "api-key", type: "password", autocomplete: "off" });
    form.append(heading, message, label, input, el("p", "Kept in this browser tab only (session storage).", "hint"),
      el("button", "Use key", "primary"));
    dialog.append(form);
    document.body.append(dialog);
    return dialog;
  }

  function askKey(message) {
    const box = keyDialog();
    const input = box.querySelector("input");
    box.querySelector("#key-message").textContent = message;
    input.value = "";
    return new Promise((resolve) => {
      box.addEventListener("close", () => {
        const typed = input.value.trim();
        if (typed) sessionStorage.setItem(KEY, typed);
        resolve(Boolean(typed));
      }, { once: true });
      box.showModal();
      input.focus();
    });
  }

  // fetch with the key; on 401 (or 403 for an admin-only call) ask for a key and try once more.
  async function call(path, options = {}) {
    for (let attempt = 0; ; attempt += 1) {
      const headers = { ...(options.headers || {}) };
      const stored = key();
      if (stored) headers.Authorization = `Bearer ${stored}`;
      const response = await fetch(path, { ...options, headers });
      const refused = response.status === 401 || (response.status === 403 && options.admin);
      if (!refused || attempt > 0) return response;
      const why = options.admin ? "This page needs an admin key." : "This gateway needs an API key.";
      if (!(await askKey(why))) return response;
    }
  }

  async function json(path, options) {
    const response = await call(path, options);
    if (!response.ok) throw new Error(await errorText(response));
    return response.json();
  }

  // The OpenAI-style error's message (with its param), or the status line.
  async function errorText(response) {
    try {
      const body = await response.json();
      const error = body.error || {};
      const param = error.param ? ` (${error.param})` : "";
      return `${error.message || response.statusText}${param}`;
    } catch {
      return `HTTP ${response.status} ${response.statusText}`;
    }
  }

  return { call, json, errorText };
})();
