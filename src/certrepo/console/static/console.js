// certrepo console: the little behaviour htmx does not cover. Hand-written, no build step, no eval
// (the Content-Security-Policy allows scripts from this origin only).
(function () {
  "use strict";

  function sharedDialog() { return document.getElementById("dialog"); }

  // --- dialogs ------------------------------------------------------------------------------------

  function openDialog(dialog) {
    if (!dialog.open) dialog.showModal();
    var first = dialog.querySelector("input:not([type=hidden]):not([disabled]), select, textarea");
    if (first) first.focus();
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (dialog) openDialog(dialog);
      return;
    }
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      var open = closer.closest("dialog");
      if (open) open.close();
    }
  });

  // A dialog's content arrives through htmx into #dialog-body; once it is there, show the dialog.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    var dialog = sharedDialog();
    if (target && target.id === "dialog-body") {
      var content = target.firstElementChild;
      dialog.className = content ? (content.getAttribute("data-dialog-kind") || "") : "";
      openDialog(dialog);
    } else if (target && target.id === "main") {
      // The change succeeded and the page under the dialog was redrawn: close the dialog and keep the
      // keyboard in the content (the control that opened the dialog is gone).
      if (dialog.open) dialog.close();
      target.focus({ preventScroll: true });
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var dialog = sharedDialog();
    if (dialog) {
      dialog.addEventListener("close", function () {
        document.getElementById("dialog-body").replaceChildren();
      });
    }
  });

  // --- "I understand the risks" -------------------------------------------------------------------
  // A checkbox with data-enables="<button id>" enables that button only while it is ticked.

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.matches && box.matches("input[type=checkbox][data-enables]")) {
      var button = document.getElementById(box.getAttribute("data-enables"));
      if (button) button.disabled = !box.checked;
    }
  });

  // --- rename in place ----------------------------------------------------------------------------

  function showRename(form, editing) {
    var view = form.parentElement.querySelector(".name-view");
    form.hidden = !editing;
    if (view) view.hidden = editing;
    if (editing) {
      var input = form.querySelector("input[name=name]");
      input.focus();
      input.select();
    } else {
      var modify = view && view.querySelector(".modify");
      if (modify) modify.focus();
    }
  }

  document.addEventListener("click", function (event) {
    var modify = event.target.closest("[data-rename]");
    if (modify) {
      var form = document.getElementById(modify.getAttribute("data-rename"));
      if (form) showRename(form, true);
      return;
    }
    var cancel = event.target.closest("[data-rename-cancel]");
    if (cancel) showRename(cancel.closest("form"), false);
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && event.target.closest) {
      var form = event.target.closest(".rename-form");
      if (form) { event.preventDefault(); showRename(form, false); }
    }
  });

  // --- copy or save what is shown once (secrets, keys, results) ---------------------------------------

  function shownText(id) {
    var source = document.getElementById(id);
    if (!source) return null;
    return (source.value !== undefined ? source.value : source.textContent).trim();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var text = shownText(button.getAttribute("data-copy"));
    if (text !== null && navigator.clipboard) {
      navigator.clipboard.writeText(text).then(function () {
        button.textContent = "Copied";
      });
    }
  });

  // data-download="<id of the text>" data-filename="…" [data-base64]: save the text (or the bytes the
  // base64 stands for, e.g. a PKCS#12 file) as a file, without sending it to the server again.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-download]");
    if (!button) return;
    var text = shownText(button.getAttribute("data-download"));
    if (text === null) return;
    var data = text + "\n";
    if (button.hasAttribute("data-base64")) {
      var binary = atob(text.replace(/\s+/g, ""));
      data = new Uint8Array(binary.length);
      for (var i = 0; i < binary.length; i++) data[i] = binary.charCodeAt(i);
    }
    var url = URL.createObjectURL(new Blob([data], { type: "application/octet-stream" }));
    var link = document.createElement("a");
    link.href = url;
    link.download = button.getAttribute("data-filename") || "download";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  });

  // --- repeatable rows (SANs): data-add-row="<template id>" data-rows="<container id>" ----------------

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-add-row]");
    if (!button) return;
    var template = document.getElementById(button.getAttribute("data-add-row"));
    var rows = document.getElementById(button.getAttribute("data-rows"));
    if (!template || !rows) return;
    var row = template.content.firstElementChild.cloneNode(true);
    rows.appendChild(row);
    var input = row.querySelector("input");
    if (input) input.focus();
  });

  // --- failures htmx cannot place -----------------------------------------------------------------
  // Console errors come with HX-Retarget (next to the form). Anything else that fails (a proxy's 502,
  // the network) is announced in #flash instead of being swapped into the page.

  function flash(message) {
    var box = document.getElementById("flash");
    if (!box) return;
    box.replaceChildren();
    var alert = document.createElement("div");
    alert.className = "alert alert-error";
    alert.setAttribute("role", "alert");
    alert.textContent = message;
    box.appendChild(alert);
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status >= 400 && !xhr.getResponseHeader("HX-Retarget")) {
      event.detail.shouldSwap = false;
      flash("The request failed (HTTP " + xhr.status + "). Reload the page and try again.");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    flash("The server could not be reached. Check the connection and try again.");
  });

  // A new request clears old messages in the form that sends it.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.querySelectorAll) {
      form.querySelectorAll(".field-error, .form-error, .tool-result").forEach(function (slot) {
        slot.replaceChildren();
      });
    }
    var box = document.getElementById("flash");
    if (box) box.replaceChildren();
  });
})();
