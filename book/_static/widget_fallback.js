// Static fallback for the book's widgets (enas_edu.viz.widgets.explorer).
//
// A widget renders on a page only when require.js and the Jupyter widget manager load from their
// CDNs. Each widget cell also carries a hidden picture of the widget's first state; once the page
// has loaded, this script shows that picture wherever no widget rendered in the same cell, e.g.
// in the built book opened from disk without a network.
window.addEventListener("load", function () {
  setTimeout(function () {
    document.querySelectorAll(".enas-widget-fallback").forEach(function (block) {
      var cell = block.closest(".cell") || document.body;
      if (!cell.querySelector(".jupyter-widgets, .widget-box, .widget-vbox")) {
        block.style.display = "block";
      }
    });
  }, 1500);
});
