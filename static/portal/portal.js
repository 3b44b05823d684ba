/*
 * API Key Portal: what the server-rendered pages need beyond the browser's own <dialog>, popover and
 * clipboard. No inline script or handler (the Content Security Policy forbids them): it all hangs off
 * data- attributes and htmx events, delegated from the document so content swapped in by htmx needs
 * no re-binding. Every page also works without this file.
 *
 *   #modal-root <dialog>  loaded by htmx, opened with showModal(); closed, it leaves the DOM and
 *                         focus returns to what opened it. [data-modal-close]: Cancel and × close it;
 *                         [data-light-dismiss]: a click on the backdrop too, unless its form changed
 *   [data-modal-done]     closing the one-time reveal wipes the secret, refreshes the page part;
 *                         before the secret was copied, [data-reveal-confirm] asks first
 *   [popovertarget]       the Settings menu: aria-expanded kept in step, closes when focus leaves
 *   [data-copy-target]    copies the text of the element with that id, then says "Copied"
 *   [data-show-when]      shown only while a select has a given value (custom expiry)
 *   [data-scope-picker]   write ticks read, presets, "no scope chosen" before the form is sent
 *   [data-drop-empty]     GET filter forms: empty fields stay out of the URL; [data-reset-form] empties them
 */
(() => {
  "use strict";

  const on = (type, selector, handler, capture = false) =>
    document.addEventListener(type, (event) => {
      const element = event.target.closest?.(selector);
      if (element) handler(element, event);
    }, capture);

  // ---------------------------------------------------------------- Settings menu (a popover)
  // The browser closes it on Escape and on a click elsewhere; tabbing out of it closes it too.
  const syncExpanded = (menu) =>
    document.querySelectorAll(`[popovertarget="${menu.id}"]`).forEach((toggle) => {
      toggle.setAttribute("aria-expanded", menu.matches(":popover-open"));
    });
  document.querySelectorAll("[popover][id]").forEach(syncExpanded);
  on("toggle", "[popover][id]", syncExpanded, true); // toggle does not bubble
  on("focusout", "[data-dropdown]", (dropdown, event) => {
    if (event.relatedTarget && !dropdown.contains(event.relatedTarget)) {
      dropdown.querySelector(":popover-open")?.hidePopover();
    }
  });

  // ---------------------------------------------------------------- dialogs
  let opener = null; // the element that opened the dialog: focus goes back to it
  const openDialog = () => document.querySelector("#modal-root dialog[open]");
  const wipeSecrets = (scope) => scope.querySelectorAll("[data-secret]").forEach((e) => (e.textContent = ""));

  // The opener may have been replaced by an htmx swap since: then it is found again by its id.
  const focusOpener = () => {
    const element = opener && (opener.isConnected ? opener : document.getElementById(opener.id));
    opener = null;
    element?.focus();
    return element;
  };

  // Focus the first invalid field, the error, or what the screen asks for; else the form's first field.
  const FIRST_FOCUS = [
    "[aria-invalid='true']", ".field-invalid input:not([disabled])", ".alert-error[role='alert']",
    "[data-autofocus]", "form :is(input, select, textarea):not([disabled], [type='hidden'])",
  ];
  function showDialog(dialog) {
    if (!dialog.open) dialog.showModal();
    const target = FIRST_FOCUS.map((selector) => dialog.querySelector(selector)).find(Boolean);
    if (target?.matches(".alert-error")) target.tabIndex = -1;
    target?.focus();
  }

  // Done on the one-time reveal (or Escape there): the secret has left the page; the list (or the
  // key) is refreshed in place to show the new key. Without a region to refresh, go to the list.
  function finishReveal(done) {
    const region = done.dataset.refreshTarget && document.querySelector(done.dataset.refreshTarget);
    const back = focusOpener();
    if (!region || !window.htmx) return window.location.assign(done.form.action);
    const url = window.location.pathname + window.location.search;
    window.htmx.ajax("GET", url, { target: region, swap: "outerHTML" }).then(() => {
      const again = back?.id && document.getElementById(back.id);
      if (again && !again.contains(document.activeElement)) again.focus();
    });
  }

  // However it closes (Escape, Cancel, ×, Done, a click on the backdrop), it leaves the DOM.
  // (The listener captures: close does not bubble.)
  on("close", "#modal-root dialog", (dialog) => {
    wipeSecrets(dialog);
    const done = dialog.querySelector("[data-modal-done]");
    dialog.remove();
    return done ? finishReveal(done) : focusOpener();
  }, true);

  // A click on the backdrop closes a [data-light-dismiss] dialog, but never one whose form has
  // changes: typed work is not lost to a stray click (Cancel, × and Escape still close it).
  // Written by hand rather than closedby="any", whose light dismiss cannot ask about the form.
  // A form is changed once something is typed or chosen in it, or when the server sends it back
  // with what was submitted (data-changed).
  on("input", "#modal-root dialog form", (form) => (form.dataset.changed = ""));
  document.addEventListener("click", (event) => {
    const dialog = event.target;
    if (!dialog.matches?.("#modal-root dialog[data-light-dismiss][open]")) return;
    const box = dialog.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right
      && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside && !dialog.querySelector("form[data-changed]")) dialog.close();
  });

  // The one-time reveal: closing it (Done, Escape) before the secret was copied asks first, since
  // the secret is gone for good after. Copying counts with the Copy buttons or the keyboard.
  const revealOf = (element) => element.closest("#modal-root dialog, .dialog-page");
  const markCopied = (element) => revealOf(element)?.setAttribute("data-secret-copied", "");
  const mustAsk = (scope) =>
    scope?.querySelector("[data-reveal-confirm]") && !scope.matches("[data-secret-copied], [data-close-anyway]");
  function askBeforeClosing(scope) {
    const question = scope.querySelector("[data-reveal-confirm]");
    question.hidden = false;
    question.setAttribute("role", "alert");
    question.querySelector("[data-reveal-back]").focus();
  }
  document.addEventListener("copy", () => {
    const node = window.getSelection()?.anchorNode;
    const secret = node && (node.nodeType === 1 ? node : node.parentElement)?.closest("[data-secret]");
    if (secret) markCopied(secret);
  });
  on("cancel", "#modal-root dialog", (dialog, event) => {
    if (!mustAsk(dialog)) return;
    event.preventDefault(); // the browser allows it once per user action: a second Escape closes
    askBeforeClosing(dialog);
  }, true);
  on("click", "[data-reveal-back]", (button) => {
    const scope = revealOf(button) || document;
    scope.querySelector("[data-reveal-confirm]").hidden = true;
    scope.querySelector("[data-copy-target='reveal-client-secret']")?.focus();
  });
  on("click", "[data-reveal-close-anyway]", (button) => {
    const scope = revealOf(button);
    scope.setAttribute("data-close-anyway", "");
    scope.querySelector("[data-modal-done]").click();
  });

  on("click", "[data-modal-close], [data-modal-done]", (button, event) => {
    const dialog = button.closest("#modal-root dialog");
    if (!dialog && !button.matches("[data-modal-done]")) return; // a plain link on a page
    event.preventDefault();
    if (button.matches("[data-modal-done]") && mustAsk(revealOf(button))) return askBeforeClosing(revealOf(button));
    if (dialog) return dialog.close();
    // The reveal as a page of its own: wipe, then follow the form to the list (or the key).
    wipeSecrets(document);
    window.location.assign(button.form.action);
  });

  // Leaving the page (link, Back, reload) with a reveal open: no secret stays in the back/forward cache.
  window.addEventListener("pagehide", () => wipeSecrets(document));

  // ---------------------------------------------------------------- copy buttons
  on("click", "[data-copy-target]", (button) => {
    const source = document.getElementById(button.dataset.copyTarget);
    if (!source) return;
    const label = button.querySelector("[data-copy-label]") || button;
    const say = (text) => {
      button.dataset.copyOriginal ??= label.textContent;
      label.textContent = text;
      clearTimeout(button.copyTimer);
      button.copyTimer = setTimeout(() => (label.textContent = button.dataset.copyOriginal), 2500);
    };
    // No clipboard (permission refused, not a secure context): the text is selected instead.
    Promise.resolve()
      .then(() => navigator.clipboard.writeText(source.textContent.trim()))
      .then(() => {
        if (source.matches("[data-secret]")) markCopied(source);
        say("Copied");
      }, () => {
        window.getSelection().selectAllChildren(source);
        say("Press Ctrl+C");
      });
  });

  // ---------------------------------------------------------------- small form helpers
  const applyShowWhen = (root) => {
    for (const box of root.querySelectorAll("[data-show-when]")) {
      const field = document.getElementById(box.dataset.showWhen);
      if (field) box.hidden = field.value !== box.dataset.showValue;
    }
  };

  document.addEventListener("change", ({ target }) => {
    if (!target.id) return;
    for (const box of document.querySelectorAll(`[data-show-when="${CSS.escape(target.id)}"]`)) {
      box.hidden = target.value !== box.dataset.showValue;
      if (!box.hidden) box.querySelector("input")?.focus();
    }
  });

  on("click", "[data-reset-form]", () => {
    for (const field of document.querySelectorAll("form[data-drop-empty] [name]")) {
      if (!/^(submit|button)$/.test(field.type)) field.value = "";
    }
  });

  // ---------------------------------------------------------------- the scope picker
  // [data-scope-picker]: a write scope ticks its read (write includes read; unticking read unticks
  // write), the presets tick what they name among the scopes the role allows, and the status line
  // says what is chosen, or that nothing is, before the form is sent.
  const scopeBoxes = (picker) => [...picker.querySelectorAll("input[name=scopes]:not([disabled])")];
  const partner = (box, action) => box.closest("[data-scope-picker]").querySelector(
    `input[name=scopes][data-resource="${CSS.escape(box.dataset.resource)}"][data-action="${action}"]:not([disabled])`);
  function sayScopes(picker) {
    const status = picker.querySelector("[data-scope-status]");
    if (!status) return;
    const chosen = scopeBoxes(picker).filter((box) => box.checked).length;
    status.textContent = chosen
      ? `${chosen} scope${chosen === 1 ? "" : "s"} chosen.`
      : "No scope chosen yet: choose at least one scope.";
    status.classList.toggle("is-missing", !chosen);
  }
  on("change", "[data-scope-picker] input[name=scopes]", (box) => {
    const picker = box.closest("[data-scope-picker]");
    const read = box.dataset.action === "write" && box.checked && partner(box, "read");
    if (read && !read.checked) read.click();
    if (box.dataset.action === "read" && !box.checked) {
      const write = partner(box, "write");
      if (write?.checked) write.click();
    }
    sayScopes(picker);
  });
  on("click", "[data-scope-preset]", (button) => {
    const picker = button.closest("[data-scope-picker]");
    const preset = button.dataset.scopePreset;
    for (const box of scopeBoxes(picker)) {
      box.checked = preset === "all" || box.dataset.action === "read";
    }
    picker.closest("form")?.setAttribute("data-changed", "");
    sayScopes(picker);
  });
  // Sent without a scope: said at once, next to the scopes, and the form is not sent (the server
  // says the same if it is sent anyway, e.g. without JavaScript). Captured, so before htmx sends it.
  document.addEventListener("submit", (event) => {
    const picker = event.target.querySelector?.("[data-scope-picker]");
    if (!picker || scopeBoxes(picker).some((box) => box.checked)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    sayScopes(picker);
    picker.classList.add("field-invalid");
    scopeBoxes(picker)[0]?.focus();
  }, true);
  const initScopes = (root) => root.querySelectorAll?.("[data-scope-picker]").forEach(sayScopes);

  // ---------------------------------------------------------------- htmx wiring
  document.addEventListener("htmx:configRequest", ({ detail: { elt, verb, parameters } }) => {
    if (verb !== "get" || !elt.closest?.("form[data-drop-empty]")) return;
    for (const name of Object.keys(parameters)) if (parameters[name] === "") delete parameters[name];
  });

  document.addEventListener("htmx:beforeRequest", ({ detail }) => {
    if (detail.target?.id === "modal-root" && !openDialog()) opener = detail.elt;
  });

  // Keep focus where it was when a table is swapped under it (sort and page links are replaced).
  let focusedId = null;
  document.addEventListener("htmx:beforeSwap", ({ detail }) => {
    const active = document.activeElement;
    focusedId = active?.id && detail.target.contains(active) ? active.id : null;
  });

  document.addEventListener("htmx:afterSettle", ({ detail: { target } }) => {
    const id = focusedId;
    focusedId = null;
    if (target?.id === "modal-root") {
      const dialog = target.querySelector("dialog");
      return dialog ? showDialog(dialog) : focusOpener();
    }
    if (!target || (document.activeElement && document.activeElement !== document.body)) return;
    const again = id && document.getElementById(id);
    const region = document.getElementById(target.id) || target;
    const fallback = region.querySelector?.(".result-summary, .empty-state h2");
    if (fallback && !again) fallback.tabIndex = -1;
    (again || fallback)?.focus();
  });

  // Failed htmx requests: a toast, inside an open dialog (everything outside it is inert).
  function toast(message) {
    const box = document.getElementById("portal-toast") || document.createElement("div");
    Object.assign(box, { id: "portal-toast", className: "toast", textContent: message, hidden: false });
    box.setAttribute("role", "alert");
    (openDialog() || document.body).append(box);
    clearTimeout(box.timer);
    box.timer = setTimeout(() => (box.hidden = true), 6000);
  }

  const ERRORS = {
    403: "Your role does not allow this. Nothing was changed.",
    404: "Not found: it may have been removed, or it is not visible to you.",
    503: "That took too long or the database is briefly unavailable. Try again in a moment.",
  };
  document.addEventListener("htmx:responseError", ({ detail: { xhr } }) => {
    const status = xhr?.status ?? 0;
    toast(ERRORS[status] || `Something went wrong (${status}). Reload the page and try again.`);
  });
  document.addEventListener("htmx:sendError", () => {
    toast("The portal could not be reached. Check your connection and try again.");
  });

  const onLoad = (root) => {
    applyShowWhen(root);
    if (root.matches?.("[data-scope-picker]")) sayScopes(root);
    initScopes(root);
  };
  if (window.htmx) window.htmx.onLoad(onLoad);
  else onLoad(document);
})();
