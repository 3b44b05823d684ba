/*
 * API Key Portal: the little behaviour the server-rendered pages need.
 *
 * No inline scripts or event handlers anywhere (a Content Security Policy forbids them): everything
 * hangs off data- attributes and htmx events, delegated from the document so that content swapped
 * in by htmx works without re-binding. Every page also works without this file.
 *
 *   [data-dropdown]        the Settings menu: click, Escape, outside click, arrow keys
 *   #modal-root            dialogs loaded by htmx: focus trapped, Escape closes, focus returns
 *   [data-modal-done]      closes the one-time reveal, wipes the secret, refreshes the page part
 *   [data-copy-target]     copies the text of the element with that id, then says "Copied"
 *   [data-show-when]       shown only while a select has a given value (custom expiry)
 *   [data-drop-empty]      GET filter forms: empty fields stay out of the URL
 *   [data-reset-form]      "Clear" links also empty the filter form
 */
(function () {
  "use strict";

  var FOCUSABLE = [
    "a[href]",
    "button:not([disabled])",
    "input:not([disabled]):not([type=hidden])",
    "select:not([disabled])",
    "textarea:not([disabled])",
    "[tabindex]:not([tabindex='-1'])",
  ].join(",");

  if (window.htmx) {
    // htmx would inject a <style> element for its indicators; portal.css has those rules instead,
    // so a Content Security Policy without 'unsafe-inline' styles keeps working.
    window.htmx.config.includeIndicatorStyles = false;
  }

  function isVisible(element) {
    return !!(element.offsetWidth || element.offsetHeight || element.getClientRects().length);
  }

  function focusables(container) {
    return Array.prototype.filter.call(container.querySelectorAll(FOCUSABLE), function (element) {
      return isVisible(element) && !element.closest("[hidden], [inert]");
    });
  }

  // ---------------------------------------------------------------- Settings drop-down

  function dropdownParts(dropdown) {
    var toggle = dropdown.querySelector("[data-dropdown-toggle]");
    var menu = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
    return { toggle: toggle, menu: menu };
  }

  function setDropdown(dropdown, open, focusToggle) {
    var parts = dropdownParts(dropdown);
    if (!parts.toggle || !parts.menu) return;
    parts.toggle.setAttribute("aria-expanded", open ? "true" : "false");
    parts.menu.hidden = !open;
    if (!open && focusToggle) parts.toggle.focus();
  }

  function openDropdowns() {
    return Array.prototype.filter.call(document.querySelectorAll("[data-dropdown]"), function (dropdown) {
      var toggle = dropdown.querySelector("[data-dropdown-toggle]");
      return toggle && toggle.getAttribute("aria-expanded") === "true";
    });
  }

  function menuLinks(dropdown) {
    var menu = dropdownParts(dropdown).menu;
    return menu ? Array.prototype.slice.call(menu.querySelectorAll("a[href], button")) : [];
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-dropdown-toggle]");
    openDropdowns().forEach(function (dropdown) {
      if (!dropdown.contains(event.target)) setDropdown(dropdown, false, false);
    });
    if (toggle) {
      var dropdown = toggle.closest("[data-dropdown]");
      setDropdown(dropdown, toggle.getAttribute("aria-expanded") !== "true", false);
    }
  });

  document.addEventListener("keydown", function (event) {
    var dropdown = event.target.closest && event.target.closest("[data-dropdown]");
    if (event.key === "Escape") {
      var open = openDropdowns();
      if (open.length) {
        event.preventDefault();
        open.forEach(function (d) {
          setDropdown(d, false, d.contains(document.activeElement) || d === dropdown);
        });
      }
      return;
    }
    if (!dropdown || (event.key !== "ArrowDown" && event.key !== "ArrowUp" && event.key !== "Home" && event.key !== "End")) {
      return;
    }
    var links = menuLinks(dropdown);
    if (!links.length) return;
    event.preventDefault();
    setDropdown(dropdown, true, false);
    var index = links.indexOf(document.activeElement);
    if (event.key === "Home") index = 0;
    else if (event.key === "End") index = links.length - 1;
    else if (event.key === "ArrowDown") index = index < 0 ? 0 : (index + 1) % links.length;
    else index = index < 0 ? links.length - 1 : (index - 1 + links.length) % links.length;
    links[index].focus();
  });

  // Tabbing out of the menu closes it.
  document.addEventListener("focusout", function (event) {
    var dropdown = event.target.closest && event.target.closest("[data-dropdown]");
    if (dropdown && event.relatedTarget && !dropdown.contains(event.relatedTarget)) {
      setDropdown(dropdown, false, false);
    }
  });

  // ---------------------------------------------------------------- dialogs

  var opener = null; // the element that opened the dialog: focus goes back to it
  var inerted = []; // what we made inert while a dialog is open

  function modalRoot() {
    return document.getElementById("modal-root");
  }

  function currentModal() {
    var root = modalRoot();
    return root ? root.querySelector("[data-modal]") : null;
  }

  function panelOf(modal) {
    return modal.querySelector("[role='dialog']") || modal;
  }

  function focusInitial(modal) {
    var panel = panelOf(modal);
    var target =
      panel.querySelector("[aria-invalid='true']") ||
      panel.querySelector(".field-invalid input:not([disabled])") ||
      panel.querySelector(".alert-error[role='alert']") ||
      panel.querySelector("[data-autofocus]");
    if (!target) {
      var form = panel.querySelector("form");
      var candidates = form ? focusables(form).filter(function (el) { return !el.hasAttribute("data-modal-close"); }) : [];
      target = candidates[0] || focusables(panel)[0] || panel;
    }
    if (target.matches(".alert-error")) target.setAttribute("tabindex", "-1");
    target.focus();
  }

  function openModal(modal) {
    var root = modalRoot();
    if (!inerted.length) {
      // Everything but the dialog leaves the tab order and the accessibility tree.
      Array.prototype.forEach.call(document.body.children, function (element) {
        if (element !== root && element.tagName !== "SCRIPT" && !element.inert) {
          element.inert = true;
          inerted.push(element);
        }
      });
    }
    document.documentElement.classList.add("has-modal");
    focusInitial(modal);
  }

  function wipeSecrets(scope) {
    Array.prototype.forEach.call((scope || document).querySelectorAll("[data-secret]"), function (element) {
      element.textContent = "";
    });
  }

  function closeModal(restoreFocus) {
    var root = modalRoot();
    if (root) {
      wipeSecrets(root);
      root.replaceChildren();
    }
    inerted.forEach(function (element) {
      element.inert = false;
    });
    inerted = [];
    document.documentElement.classList.remove("has-modal");
    var back = opener;
    opener = null;
    if (restoreFocus !== false && back && back.isConnected) back.focus();
    return back;
  }

  // Done on the one-time reveal: the secret leaves the page, then the list (or the key) is
  // refreshed in place so it shows the new key; without a region to refresh, go to the list.
  function finishReveal(button) {
    var selector = button.getAttribute("data-refresh-target");
    var region = selector ? document.querySelector(selector) : null;
    var back = closeModal(true);
    if (region && window.htmx) {
      var backId = back && back.id;
      window.htmx
        .ajax("GET", window.location.pathname + window.location.search, { target: region, swap: "outerHTML" })
        .then(function () {
          var again = backId && document.getElementById(backId);
          if (again && !again.contains(document.activeElement)) again.focus();
        });
    } else {
      window.location.assign(button.form ? button.form.action : window.location.pathname);
    }
  }

  function dismiss(modal) {
    var done = modal.querySelector("[data-modal-done]");
    if (done) finishReveal(done);
    else closeModal(true);
  }

  document.addEventListener("click", function (event) {
    var done = event.target.closest("[data-modal-done]");
    if (done) {
      event.preventDefault();
      if (done.closest("#modal-root")) {
        finishReveal(done);
      } else {
        // The reveal as a page (it was not opened by htmx): wipe, then follow the form to the list.
        wipeSecrets(document);
        window.location.assign(done.form.action);
      }
      return;
    }
    var close = event.target.closest("[data-modal-close], [data-modal-backdrop]");
    if (close && close.closest("#modal-root")) {
      event.preventDefault();
      closeModal(true);
    }
  });

  document.addEventListener("keydown", function (event) {
    var modal = currentModal();
    if (!modal) return;
    if (event.key === "Escape") {
      event.preventDefault();
      dismiss(modal);
      return;
    }
    if (event.key !== "Tab") return;
    var panel = panelOf(modal);
    var items = focusables(panel);
    if (!items.length) {
      event.preventDefault();
      panel.focus();
      return;
    }
    var first = items[0];
    var last = items[items.length - 1];
    var inside = panel.contains(document.activeElement);
    if (event.shiftKey && (!inside || document.activeElement === first || document.activeElement === panel)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (!inside || document.activeElement === last)) {
      event.preventDefault();
      first.focus();
    }
  });

  // Leaving the page (link, Back, reload) with a reveal open: nothing of the secret stays behind
  // in the back/forward cache.
  window.addEventListener("pagehide", function () {
    wipeSecrets(document);
  });

  // ---------------------------------------------------------------- copy buttons

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function legacyCopy(text, near) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "copy-buffer";
    (near.closest("[role='dialog']") || document.body).appendChild(area);
    area.select();
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (error) {
      ok = false;
    }
    area.remove();
    near.focus();
    return ok;
  }

  function copyText(text, button) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(
        function () {
          return true;
        },
        function () {
          return legacyCopy(text, button);
        }
      );
    }
    return Promise.resolve(legacyCopy(text, button));
  }

  function setCopyLabel(button, text) {
    var label = button.querySelector("[data-copy-label]") || button;
    if (!button.hasAttribute("data-copy-original")) button.setAttribute("data-copy-original", label.textContent);
    label.textContent = text;
    window.clearTimeout(button._copyTimer);
    button._copyTimer = window.setTimeout(function () {
      label.textContent = button.getAttribute("data-copy-original");
    }, 2500);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source) return;
    var text = source.textContent.trim();
    copyText(text, button).then(function (ok) {
      if (ok) {
        setCopyLabel(button, "Copied");
      } else {
        selectText(source);
        setCopyLabel(button, "Press Ctrl+C");
      }
    });
  });

  // ---------------------------------------------------------------- small form helpers

  function applyShowWhen(root) {
    Array.prototype.forEach.call(root.querySelectorAll("[data-show-when]"), function (box) {
      var field = document.getElementById(box.getAttribute("data-show-when"));
      if (!field) return;
      box.hidden = field.value !== box.getAttribute("data-show-value");
    });
  }

  document.addEventListener("change", function (event) {
    var id = event.target.id;
    if (!id) return;
    Array.prototype.forEach.call(document.querySelectorAll("[data-show-when='" + id + "']"), function (box) {
      var show = event.target.value === box.getAttribute("data-show-value");
      box.hidden = !show;
      if (show) {
        var input = box.querySelector("input");
        if (input) input.focus();
      }
    });
  });

  document.addEventListener("click", function (event) {
    var reset = event.target.closest("[data-reset-form]");
    if (!reset) return;
    Array.prototype.forEach.call(document.querySelectorAll("form[data-drop-empty]"), function (form) {
      Array.prototype.forEach.call(form.elements, function (field) {
        if (field.name && field.type !== "submit" && field.type !== "button") field.value = "";
      });
    });
  });

  // ---------------------------------------------------------------- htmx wiring

  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt.closest && event.detail.elt.closest("form[data-drop-empty]");
    if (!form || event.detail.verb !== "get") return;
    var parameters = event.detail.parameters;
    Object.keys(parameters).forEach(function (name) {
      if (parameters[name] === "") delete parameters[name];
    });
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (target && target.id === "modal-root" && !currentModal()) {
      opener = event.detail.elt;
    }
  });

  // Keep focus where it was when a table is swapped under it (sort and page links are replaced).
  var focusedId = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var active = document.activeElement;
    focusedId = active && active.id && event.detail.target.contains(active) ? active.id : null;
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (!target) return;
    if (target.id === "modal-root") {
      var modal = currentModal();
      if (modal) openModal(modal);
      else closeModal(true);
      return;
    }
    if (document.activeElement === document.body || !document.activeElement) {
      var again = focusedId && document.getElementById(focusedId);
      var region = document.getElementById(target.id) || target;
      var fallback = region.querySelector && region.querySelector(".result-summary, .empty-state h2");
      if (again) again.focus();
      else if (fallback) {
        fallback.setAttribute("tabindex", "-1");
        fallback.focus();
      }
    }
    focusedId = null;
  });

  function toast(message) {
    var box = document.getElementById("portal-toast");
    if (!box) {
      box = document.createElement("div");
      box.id = "portal-toast";
      box.className = "toast";
      box.setAttribute("role", "alert");
      document.body.appendChild(box);
    }
    box.textContent = message;
    box.hidden = false;
    window.clearTimeout(box._timer);
    box._timer = window.setTimeout(function () {
      box.hidden = true;
    }, 6000);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    var messages = {
      403: "Your role does not allow this. Nothing was changed.",
      404: "Not found: it may have been removed, or it is not visible to you.",
    };
    toast(messages[status] || "Something went wrong (" + status + "). Reload the page and try again.");
  });

  document.addEventListener("htmx:sendError", function () {
    toast("The portal could not be reached. Check your connection and try again.");
  });

  function onLoad(root) {
    applyShowWhen(root || document);
  }

  if (window.htmx) window.htmx.onLoad(onLoad);
  else document.addEventListener("DOMContentLoaded", function () { onLoad(document); });
})();
