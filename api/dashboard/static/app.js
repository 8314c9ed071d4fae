// Live updates for the dashboard: an EventSource on /events; when a topic this page shows
// changes, the page's <main> is fetched again and swapped in (not while a form field has focus).
(function () {
  "use strict";
  var body = document.body;
  var wanted = (body.getAttribute("data-live") || "").split(/\s+/).filter(Boolean);
  var dot = document.getElementById("live-state");
  if (!wanted.length || !window.EventSource) { return; }
  var pending = false;
  var busy = false;

  function editing() {
    var el = document.activeElement;
    return el && /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName) && el.type !== "hidden";
  }

  function refresh() {
    if (busy) { pending = true; return; }
    if (editing()) { pending = true; return; }
    busy = true;
    pending = false;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Live": "1" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        var main = document.getElementById("main");
        if (fresh && main) {
          main.innerHTML = fresh.innerHTML;
          body.setAttribute("data-refreshed", String(Date.now()));
          document.dispatchEvent(new CustomEvent("bb:refreshed"));
        }
      })
      .catch(function () {})
      .then(function () { busy = false; if (pending) { setTimeout(refresh, 250); } });
  }

  var source = new EventSource("/events");
  source.addEventListener("hello", function () {
    if (dot) { dot.classList.add("on"); }
    body.setAttribute("data-live-ready", "1");
  });
  source.addEventListener("change", function (e) {
    var data = JSON.parse(e.data);
    if (data.topics.some(function (t) { return wanted.indexOf(t) >= 0; })) { refresh(); }
  });
  source.onerror = function () { if (dot) { dot.classList.remove("on"); } };
  document.addEventListener("focusout", function () { if (pending) { setTimeout(refresh, 100); } });

  // Buttons that act on production ask first.
  document.addEventListener("submit", function (e) {
    var question = e.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { e.preventDefault(); }
  }, true);
})();
