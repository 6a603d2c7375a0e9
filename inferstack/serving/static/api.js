// Calls to the gateway's public API from the pages. When auth is on, a 401 asks for the API key
// once; the key is kept in this tab's sessionStorage only (gone when the tab closes).
"use strict";

const Api = (() => {
  const KEY = "inferstack.api_key";

  function key() {
    return sessionStorage.getItem(KEY);
  }

  function askKey(message) {
    const dialog = document.getElementById("key-dialog");
    const input = document.getElementById("api-key");
    document.getElementById("key-message").textContent = message;
    input.value = "";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        const typed = input.value.trim();
        if (typed) sessionStorage.setItem(KEY, typed);
        resolve(Boolean(typed));
      }, { once: true });
      dialog.showModal();
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
      const why = response.status === 401 ? "This gateway needs an API key." : "This page needs an admin key.";
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
