// Live progress of a run tree on the run page, over server-sent events. Without JavaScript (or
// without EventSource) the page still works: its Refresh link reloads the server-rendered tree.
// Text from the server is only ever set with textContent: it never becomes markup.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var state = document.getElementById("live-state");
  var shown = live.getAttribute("data-digest");
  var source = new EventSource(live.getAttribute("data-events"));

  function setText(root, field, value) {
    var el = root && root.querySelector('[data-field="' + field + '"]');
    if (el && el.textContent !== value) { el.textContent = value; }
  }

  source.addEventListener("progress", function (event) {
    var data = JSON.parse(event.data);
    state.textContent = data.settled ? "Settled" : "Running";
    data.runs.forEach(function (run) {
      var node = document.querySelector('section.node[data-run="' + CSS.escape(run.run_id) + '"]');
      if (!node) { return; }
      setText(node, "run-status", run.status);
      setText(node, "cost", run.cost);
      setText(node, "duration", run.duration);
      run.steps.forEach(function (step) {
        var row = document.querySelector('tr[data-step="' + CSS.escape(run.run_id + "/" + step.step_id) + '"]');
        setText(row, "status", step.status);
      });
    });
    live.setAttribute("data-live", "yes");
  });

  source.addEventListener("settled", function (event) {
    source.close();
    var data = JSON.parse(event.data);
    state.textContent = "Settled";
    if (data.digest !== shown) {
      // runs or steps appeared or changed state: show the server-rendered tree
      window.location.reload();
    }
  });

  source.addEventListener("ended", function (event) {
    // the session ended (signed out, expired): no reconnecting, the next page asks to sign in
    source.close();
    state.textContent = "Live view stopped: " + JSON.parse(event.data).message;
  });

    source.onerror = function () {
    if (source.readyState === EventSource.CLOSED) { state.textContent = "Live view stopped"; }
  };
})();
