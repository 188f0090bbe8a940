/* onboardflow pages: live fragments, API actions with CSRF, confirmations, the Yolo Mode dialog,
 * and row selection. Plain JavaScript, no build step.
 *
 * Live fragments: an element with `data-live` is re-fetched from `data-live-url` (a server-rendered
 * fragment whose root carries the same attributes) whenever the event stream reports a change in
 * `data-live-stream` (query string: "", "batch_id=...", "registration_job_id=..."). When the stream
 * is unavailable it polls: every 5 s while running, every 10 s while pending, and it stops once
 * `data-live-status` is final (SPEC §8).
 */
(function () {
  "use strict";

  var FINAL = ["completed", "failed", "cancelled", "skipped"];
  var RUNNING = ["in_progress", "retrying", "queued"];
  var RUNNING_MS = 5000;
  var PENDING_MS = 10000;

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function api(method, url, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), Accept: "application/json" },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
        if (!response.ok) {
          var error = new Error((data && data.message) || response.statusText);
          error.status = response.status;
          error.data = data;
          throw error;
        }
        return data;
      });
    });
  }

  function notify(text, kind) {
    var box = document.getElementById("notices");
    if (!box) return null;
    var p = document.createElement("p");
    p.className = "notice notice-" + (kind || "info");
    p.setAttribute("role", kind === "error" ? "alert" : "status");
    if (typeof text === "string") p.textContent = text; else p.appendChild(text);
    box.appendChild(p);
    return p;
  }

  // -- live fragments ----------------------------------------------------------------------------

  var watchers = new Map();

  function statusOf(el) { return el.getAttribute("data-live-status") || "pending"; }

  function Watcher(el) {
    this.el = el;
    this.source = null;
    this.timer = null;
    this.pending = null;
    this.inflight = null;
    this.queued = null;
    this.streamOk = false;
    this.start();
  }

  Watcher.prototype.start = function () {
    var self = this;
    var status = statusOf(this.el);
    if (FINAL.indexOf(status) >= 0 || status === "not_started") { this.stop(); return; }
    var stream = this.el.getAttribute("data-live-stream");
    if (stream !== null && window.EventSource && !this.source) {
      this.source = new EventSource("/api/events/stream" + (stream ? "?" + stream : ""));
      // Once connected (again), catch up on what changed before the stream was listening.
      this.source.addEventListener("open", function () { self.streamOk = true; self.clearPoll(); self.refreshSoon(); });
      this.source.addEventListener("status", function () { self.refreshSoon(); });
      this.source.addEventListener("error", function () {
        self.streamOk = false;
        if (self.source && self.source.readyState === EventSource.CLOSED) self.source = null;
        self.schedulePoll();
      });
    }
    if (!this.source) this.schedulePoll();
  };

  Watcher.prototype.stop = function () {
    if (this.source) { this.source.close(); this.source = null; }
    this.clearPoll();
  };

  Watcher.prototype.clearPoll = function () {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
  };

  Watcher.prototype.schedulePoll = function () {
    var self = this;
    var status = statusOf(this.el);
    this.clearPoll();
    if (FINAL.indexOf(status) >= 0 || this.streamOk) return;
    var wait = RUNNING.indexOf(status) >= 0 ? RUNNING_MS : PENDING_MS;
    this.timer = setTimeout(function () { self.refresh(); }, wait);
  };

  Watcher.prototype.refreshSoon = function () {
    var self = this;
    if (this.pending) return;
    var wait = parseInt(this.el.getAttribute("data-live-debounce") || "250", 10);
    this.pending = setTimeout(function () { self.pending = null; self.refresh(); }, wait);
  };

  Watcher.prototype.refresh = function () {
    // One request at a time: two in flight may answer out of order, and the older fragment would
    // replace the newer one. A refresh asked for meanwhile runs once the current one is applied.
    var self = this;
    if (this.inflight) {
      if (!this.queued) {
        this.queued = this.inflight.then(function () { self.queued = null; return self.refresh(); });
      }
      return this.queued;
    }
    var url = this.el.getAttribute("data-live-url");
    this.inflight = fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.statusText);
        return response.text();
      })
      .then(function (html) { self.replace(html); })
      .catch(function () { self.schedulePoll(); })
      .then(function () { self.inflight = null; });
    return this.inflight;
  };

  Watcher.prototype.busy = function () {
    if (!this.el.hasAttribute("data-live-quiet")) return false;
    return this.el.contains(document.activeElement) && document.activeElement.matches("input[type=text], select, textarea")
      || this.el.querySelector("[data-dirty]") !== null;
  };

  Watcher.prototype.replace = function (html) {
    var self = this;
    if (this.busy()) {  // the operator is answering: try again shortly rather than lose their input
      this.clearPoll();
      this.timer = setTimeout(function () { self.refresh(); }, 3000);
      return;
    }
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    var fresh = template.content.firstElementChild;
    if (!fresh) return;
    var open = {};
    this.el.querySelectorAll("details[data-key]").forEach(function (d) { open[d.getAttribute("data-key")] = d.open; });
    fresh.querySelectorAll("details[data-key]").forEach(function (d) {
      var key = d.getAttribute("data-key");
      if (key in open) d.open = open[key];
    });
    keepTicks(this.el, fresh);
    var oldStream = this.el.getAttribute("data-live-stream");
    this.el.replaceWith(fresh);
    this.el = fresh;
    watchers.set(fresh, this);
    bind(fresh);
    bindSelection(fresh);
    bindLazy(fresh);
    bindInbox(fresh);
    if (fresh.getAttribute("data-live-stream") !== oldStream && this.source) {
      this.source.close(); this.source = null; this.streamOk = false;
    }
    var status = statusOf(fresh);
    document.dispatchEvent(new CustomEvent("onboardflow:refreshed", { detail: { el: fresh, status: status } }));
    if (FINAL.indexOf(status) >= 0) { this.stop(); return; }
    if (!this.source) this.start(); else this.schedulePoll();
  };

  // Ticks survive a refresh: a box the operator saw keeps its state; a new one follows its group's
  // "Select all" if the operator changed that, else the server's default (ticked).
  function keepTicks(old, fresh) {
    var seen = {};
    old.querySelectorAll('input[type="checkbox"][name][value]').forEach(function (b) { seen[b.name + " " + b.value] = b.checked; });
    var touched = {};
    old.querySelectorAll("[data-select-all][data-touched]").forEach(function (all) { touched[all.getAttribute("data-select-all")] = all.checked; });
    fresh.querySelectorAll('input[type="checkbox"][name][value]').forEach(function (b) {
      var key = b.name + " " + b.value;
      if (key in seen) b.checked = seen[key];
      else if (b.name in touched) b.checked = touched[b.name];
    });
    fresh.querySelectorAll("[data-select-all]").forEach(function (all) {
      var name = all.getAttribute("data-select-all");
      if (name in touched) all.setAttribute("data-touched", "");
    });
  }

  function watch(el) {
    var existing = watchers.get(el);
    if (existing) { existing.stop(); existing.start(); return existing; }
    var watcher = new Watcher(el);
    watchers.set(el, watcher);
    return watcher;
  }

  function refreshLive(el) {
    var watcher = watchers.get(el) || watch(el);
    return watcher.refresh();
  }

  // -- buttons, confirmations and forms --------------------------------------------------------------

  function closestLive(el) { return el.closest("[data-live]"); }

  function bind(root) {
    root.querySelectorAll("[data-open-dialog]").forEach(function (button) {
      button.addEventListener("click", function () {
        var dialog = document.getElementById(button.getAttribute("data-open-dialog"));
        if (dialog && dialog.showModal) { dialog.showModal(); var first = dialog.querySelector("input, select"); if (first) first.focus(); }
      });
    });
    root.querySelectorAll("[data-api-post]").forEach(function (button) {
      button.addEventListener("click", function () {
        var question = button.getAttribute("data-confirm");
        if (question && !window.confirm(question)) return;
        button.disabled = true;
        var body = button.hasAttribute("data-body") ? JSON.parse(button.getAttribute("data-body")) : undefined;
        api("POST", button.getAttribute("data-api-post"), body)
          .then(function () {
            var done = button.getAttribute("data-done");
            if (done) notify(done, "success");
            var live = closestLive(button);
            if (live) refreshLive(live);
            else if (button.hasAttribute("data-reload")) window.location.reload();
          })
          .catch(function (error) { notify(error.message, "error"); button.disabled = false; });
      });
    });
    // An admin's override of a failed step: skip it with a reason, or re-run it with edited input.
    root.querySelectorAll("form[data-override-step]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var action = event.submitter && event.submitter.value === "skip" ? "skip" : "rerun";
        var body = { reason: form.elements.reason.value };
        if (action === "rerun") {
          body.input = {};
          form.querySelectorAll("input[data-input]").forEach(function (field) {
            if (field.value.trim()) body.input[field.name] = field.value.trim();
          });
        }
        var buttons = form.querySelectorAll("button");
        buttons.forEach(function (b) { b.disabled = true; });
        api("POST", "/api/registration-steps/" + form.getAttribute("data-override-step") + "/" + action, body)
          .then(function () {
            notify(action === "skip" ? "The step was skipped; the restaurant carries on from the next one."
              : "The step runs again.", "success");
            var live = closestLive(form);
            if (live) refreshLive(live);
          })
          .catch(function (error) { notify(error.message, "error"); buttons.forEach(function (b) { b.disabled = false; }); });
      });
    });
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  // -- rows that expand to their sub-steps ---------------------------------------------------------------

  function loadLazy(details) {
    var row = document.getElementById(details.getAttribute("data-target"));
    if (!row) return;
    row.hidden = !details.open;
    if (!details.open) return;
    fetch(details.getAttribute("data-lazy"), { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) { row.firstElementChild.innerHTML = html; });
  }

  function bindLazy(root) {
    root.querySelectorAll("details[data-lazy]").forEach(function (details) {
      details.addEventListener("toggle", function () { loadLazy(details); });
      if (details.open) loadLazy(details);
    });
  }

  // -- the action inbox ----------------------------------------------------------------------------

  function answerOf(form, submitter) {
    var key = form.getAttribute("data-step-key");
    if (key === "company_search") {
      var terms = {};
      ["trading_name", "legal_name", "street_address"].forEach(function (name) {
        var input = form.querySelector('[name="' + name + '"]');
        terms[name] = input && input.value.trim() ? input.value.trim() : null;
      });
      return terms;
    }
    if (key === "company_selection") {
      var chosen = submitter && submitter.name === "candidate_id" ? submitter : form.querySelector('input[name="candidate_id"]:checked');
      if (!chosen) return { candidate_id: null };
      return chosen.value === "none" ? { none_of_these: true } : { candidate_id: chosen.value };
    }
    return sharedConfig(form.closest("[data-group]"));
  }

  function sharedConfig(scope) {
    var config = {};
    var box = scope && scope.querySelector("[data-shared-config]");
    if (!box) return config;
    box.querySelectorAll("[name]").forEach(function (input) {
      if (input.value.trim()) setPath(config, input.name, input.value.trim());
    });
    return config;
  }

  function inboxPanel(el) { return el.closest("[data-live]"); }

  function bindInbox(root) {
    root.querySelectorAll("form[data-answer-step]").forEach(function (form) {
      // Typing makes the form dirty (the inbox then waits before refreshing); a tick does not, as
      // refreshes keep ticks.
      form.addEventListener("input", function (event) {
        if (event.target.type !== "checkbox") form.setAttribute("data-dirty", "");
      });
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        clearErrors(form);
        var buttons = form.querySelectorAll('button[type="submit"]');
        if (Array.prototype.some.call(buttons, function (b) { return b.disabled; })) return;
        var answer = answerOf(form, event.submitter);
        buttons.forEach(function (b) { b.disabled = true; });
        api("POST", "/api/actions/" + form.getAttribute("data-answer-step"), { answer: answer })
          .then(function () {
            var item = form.closest(".inbox-item");
            var name = item.querySelector("strong").textContent;
            form.removeAttribute("data-dirty");
            item.remove();
            notify("Answered for " + name + ". The pipeline carries on by itself.", "success");
            var next = document.querySelector("form[data-answer-step] input, form[data-answer-step] button");
            if (next) next.focus();
          })
          .catch(function (error) {
            buttons.forEach(function (b) { b.disabled = false; });
            showErrors(form, error);
            var p = form.querySelector('[data-field-error="' + ((error.data && error.data.field) || "") + '"]');
            if (p) { p.textContent = error.message; p.hidden = false; }
          });
      });
    });
    root.querySelectorAll("[data-bulk-mode]").forEach(function (button) {
      button.addEventListener("click", function () {
        var group = button.getAttribute("data-bulk-group");
        var scope = button.closest("[data-group]") || document;
        var ids = Array.prototype.map.call(scope.querySelectorAll('input[name="' + group + '"]:checked'), function (b) { return b.value; });
        if (!ids.length) { notify("Select at least one restaurant first.", "error"); return; }
        var mode = button.getAttribute("data-bulk-mode");
        var body = { mode: mode, step_ids: ids };
        if (mode === "apply_config") body.config = sharedConfig(scope);
        button.disabled = true;
        api("POST", "/api/actions/bulk", body)
          .then(function (report) {
            var text = "Answered " + report.succeeded + " of " + report.total + ".";
            var failures = report.items.filter(function (i) { return !i.ok; });
            if (failures.length) {
              var reasons = {};
              failures.forEach(function (f) { reasons[f.message] = (reasons[f.message] || 0) + 1; });
              text += " Not answered: " + Object.keys(reasons).map(function (m) { return m + " (" + reasons[m] + ")"; }).join("; ");
            }
            notify(text, failures.length ? "error" : "success");
            scope.querySelectorAll("[data-dirty]").forEach(function (f) { f.removeAttribute("data-dirty"); });
            var panel = inboxPanel(button);
            if (panel) refreshLive(panel);
          })
          .catch(function (error) { notify(error.message, "error"); button.disabled = false; });
      });
    });
  }

  // -- row selection ---------------------------------------------------------------------------------

  function bindSelection(root) {
    root.querySelectorAll("[data-select-all]").forEach(function (all) {
      var name = all.getAttribute("data-select-all");
      var scope = all.closest("[data-group], form") || document;
      var boxes = function () { return scope.querySelectorAll('input[type="checkbox"][name="' + name + '"]'); };
      var counter = scope.querySelector('[data-selected-count="' + name + '"]');
      var update = function () {
        var list = boxes();
        var checked = Array.prototype.filter.call(list, function (b) { return b.checked; }).length;
        if (counter) counter.textContent = checked + " selected";
        all.checked = list.length > 0 && checked === list.length;
        all.indeterminate = checked > 0 && checked < list.length;
        scope.querySelectorAll("[data-needs-selection], [data-convert-button]").forEach(function (b) { b.disabled = checked === 0; });
      };
      all.addEventListener("change", function () {
        all.setAttribute("data-touched", "");
        boxes().forEach(function (b) { b.checked = all.checked; });
        update();
      });
      scope.addEventListener("change", function (event) {
        if (event.target.name === name) update();
      });
      update();
    });
  }

  // -- leads: convert to a batch -----------------------------------------------------------------------

  function bindConvert() {
    var form = document.getElementById("convert-form");
    if (!form || form.getAttribute("data-convert") !== "on") return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var ids = Array.prototype.map.call(form.querySelectorAll('input[name="lead"]:checked'), function (b) { return b.value; });
      if (!ids.length) { notify("Select at least one lead to convert.", "error"); return; }
      var button = form.querySelector("[data-convert-button]");
      button.disabled = true;
      var auto = form.querySelector('input[name="auto_confirm"]');
      var name = form.querySelector('input[name="batch_name"]');
      var body = { name: (name && name.value.trim()) || "Batch", lead_ids: ids, settings: { auto_confirm_company: !!(auto && auto.checked) } };
      api("POST", "/api/leads/convert", body)
        .then(function (data) {
          var batch = (data && (data.batch || data)) || {};
          var id = batch.id || batch.batch_id;
          window.location.href = id ? "/batches/" + id : "/batches";
        })
        .catch(function (error) { notify(error.message, "error"); button.disabled = false; });
    });
  }

  // -- the Yolo Mode dialog ----------------------------------------------------------------------------

  function setPath(target, path, value) {
    var parts = path.split(".");
    var node = target;
    for (var i = 0; i < parts.length - 1; i++) {
      node[parts[i]] = node[parts[i]] || {};
      node = node[parts[i]];
    }
    node[parts[parts.length - 1]] = value;
  }

  function formConfig(form) {
    var config = {};
    form.querySelectorAll("[name]").forEach(function (input) {
      if (input.getAttribute("data-kind") === "checkbox" || input.type === "checkbox") {
        setPath(config, input.name, input.checked);
      } else {
        var value = input.value.trim();
        setPath(config, input.name, value === "" ? null : value);
      }
    });
    return config;
  }

  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach(function (p) { p.hidden = true; p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (i) { i.removeAttribute("aria-invalid"); });
    var summary = form.querySelector("[data-form-errors]");
    if (summary) { summary.hidden = true; summary.textContent = ""; }
  }

  function showErrors(form, error) {
    var summary = form.querySelector("[data-form-errors]");
    var errors = (error.data && error.data.errors) || [{ field: (error.data && error.data.field) || "", message: error.message }];
    var list = document.createElement("ul");
    var firstInput = null;
    errors.forEach(function (e) {
      var field = String(e.field || "").replace(/^formData\./, "");
      var input = field ? form.querySelector('[name="' + field + '"]') : null;
      var li = document.createElement("li");
      li.textContent = (field ? field + ": " : "") + e.message;
      list.appendChild(li);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        var p = document.getElementById(input.id + "-error");
        if (p) { p.textContent = e.message; p.hidden = false; }
        if (!firstInput) firstInput = input;
      }
    });
    if (summary) {
      summary.textContent = "";
      var strong = document.createElement("strong");
      strong.textContent = "The registration was not started. Fix these fields:";
      summary.appendChild(strong);
      summary.appendChild(list);
      summary.hidden = false;
    }
    if (firstInput) firstInput.focus();
  }

  function bindYolo() {
    var form = document.getElementById("yolo-form");
    if (!form) return;
    var dialog = form.closest("dialog");
    form.querySelectorAll("[data-close-dialog]").forEach(function (b) {
      b.addEventListener("click", function () { dialog.close(); });
    });
    form.querySelectorAll("input[data-mirror]").forEach(function (picker) {
      var text = document.getElementById(picker.getAttribute("data-mirror"));
      picker.addEventListener("input", function () { text.value = picker.value.toUpperCase(); });
      text.addEventListener("input", function () { if (/^#[0-9A-Fa-f]{6}$/.test(text.value)) picker.value = text.value; });
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors(form);
      var button = form.querySelector("[data-start-run]");
      button.disabled = true;
      var restaurantId = form.getAttribute("data-restaurant-id");
      api("POST", "/api/registration/execute-single-restaurant", { restaurantId: restaurantId, formData: formConfig(form) })
        .then(function () {
          button.disabled = false;
          dialog.close();
          var text = document.createElement("span");
          text.appendChild(document.createTextNode("Yolo Mode started. The run continues on the server; follow it in the "));
          var link = document.createElement("a");
          link.href = "#setup-card";
          link.textContent = "Complete Setup card";
          text.appendChild(link);
          text.appendChild(document.createTextNode(". You can close this page."));
          notify(text, "success");
          var card = document.getElementById("setup-card");
          if (card) refreshLive(card);
        })
        .catch(function (error) { button.disabled = false; showErrors(form, error); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    bind(document);
    bindSelection(document);
    bindLazy(document);
    bindInbox(document);
    bindConvert();
    bindYolo();
    document.querySelectorAll("[data-live]").forEach(watch);
  });

  // A page restored from the back-forward cache shows the past: fetch its live parts again.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) document.querySelectorAll("[data-live]").forEach(function (el) { refreshLive(el); });
  });

  window.onboardflow = { api: api, notify: notify, watch: watch, refresh: refreshLive, bindSelection: bindSelection };
})();
