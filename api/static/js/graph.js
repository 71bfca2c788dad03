// The partnership graph, drawn with Cytoscape.js (served from /static/vendor/cytoscape).
//
// Two uses of one container, <div id="graph">:
//   data-mode="neighbourhood"  an institution and its partners (data-graph), coloured by
//                              country; a tap on a partner opens its page;
//   data-mode="explorer"       the explorer: a node is expanded from its button in
//                              #node-list or by a double tap; nodes are filtered by kind and
//                              country; #path-form asks for the paths between two
//                              institutions and highlights them.
// After every draw the container carries data-nodes and data-edges (what is drawn) and,
// from the first draw on, data-ready="true".
//
// Every label comes from the server already in the reader's language (data-messages, and
// the JSON endpoints); this file formats nothing, and writes text with textContent only.
(function () {
  "use strict";
  var box = document.getElementById("graph");
  if (!box || typeof cytoscape !== "function") { return; }

  function attr(name, fallback) {
    var value = box.getAttribute(name);
    return value ? JSON.parse(value) : fallback;
  }
  var messages = attr("data-messages", {});
  var explorer = box.getAttribute("data-mode") === "explorer";

  // shape and colour per node kind (the swatches' colours in graph.css are the same)
  var KINDS = {
    institution: ["ellipse", "#0b6e4f"], technology: ["round-rectangle", "#2f6fb3"],
    demand: ["triangle", "#c26a00"], agreement: ["diamond", "#8a4fbf"],
    endorsement: ["vee", "#6c757d"], event: ["star", "#c0392b"],
    country: ["hexagon", "#5b6775"], field: ["tag", "#2a9d8f"]
  };
  // the alliance's countries get fixed colours; any other country one from its code
  var COUNTRIES = {
    CN: "#d62728", ID: "#1f77b4", TH: "#9467bd", VN: "#ff7f0e", MY: "#2ca02c", PH: "#17becf",
    SG: "#e377c2", MM: "#bcbd22", KH: "#8c564b", LA: "#393b79", BN: "#637939", TL: "#7b4173"
  };
  var OTHERS = ["#843c39", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363"];

  function countryColour(code) {
    if (!code) { return "#9aa5b1"; }
    if (COUNTRIES[code]) { return COUNTRIES[code]; }
    return OTHERS[(code.charCodeAt(0) * 31 + code.charCodeAt(1)) % OTHERS.length];
  }

  function nodeData(n) {
    var data = Object.assign({}, n);
    var look = KINDS[n.kind] || ["ellipse", "#9aa5b1"];
    data.shape = look[0];
    data.color = explorer ? look[1] : countryColour(n.country);
    return data;
  }

  var cy = cytoscape({
    container: box,
    elements: [],
    minZoom: 0.1,
    maxZoom: 4,
    style: [
      { selector: "node", style: {
        "label": "data(label)", "background-color": "data(color)", "shape": "data(shape)",
        "width": 22, "height": 22, "font-size": 9, "color": "#1d2733",
        "text-valign": "bottom", "text-margin-y": 3, "text-wrap": "ellipsis",
        "text-max-width": "120px", "min-zoomed-font-size": 5 } },
      { selector: "node[?centre]", style: {
        "width": 38, "height": 38, "border-width": 3, "border-color": "#1d2733",
        "font-size": 11, "font-weight": "bold" } },
      { selector: "node[?stub]", style: { "opacity": 0.55, "border-width": 1,
        "border-style": "dashed", "border-color": "#5b6775" } },
      { selector: "node.expanded", style: { "border-width": 2, "border-color": "#1d2733" } },
      { selector: "node:selected", style: { "border-width": 3, "border-color": "#f2a900" } },
      { selector: "edge", style: { "width": 1.5, "line-color": "#b8c2cc", "curve-style": "bezier" } },
      { selector: "edge[weight]", style: {
        "width": "mapData(weight, 1, 10, 1.5, 8)", "label": "data(label)", "font-size": 8,
        "color": "#5b6775", "text-background-color": "#ffffff", "text-background-opacity": 1 } },
      { selector: "node.path", style: { "border-width": 3, "border-color": "#e4572e" } },
      { selector: "edge.path", style: { "line-color": "#e4572e", "width": 4, "z-index": 10 } },
      { selector: ".hidden", style: { "display": "none" } }
    ]
  });

  // -- drawing -----------------------------------------------------------------------------

  // Adds what is not drawn yet; marks every element of ``doc`` with ``cls`` if given.
  function add(doc, cls) {
    var added = cy.collection();
    cy.batch(function () {
      (doc.nodes || []).forEach(function (n) {
        var el = cy.getElementById(n.id);
        if (el.empty()) {
          el = cy.add({ group: "nodes", data: nodeData(n) });
          added = added.union(el);
        }
        if (cls) { el.addClass(cls); }
      });
      (doc.edges || []).forEach(function (e) {
        var el = cy.getElementById(e.id);
        if (el.empty()) {
          if (cy.getElementById(e.source).empty() || cy.getElementById(e.target).empty()) { return; }
          el = cy.add({ group: "edges", data: Object.assign({}, e) });
          added = added.union(el);
        }
        if (cls) { el.addClass(cls); }
      });
    });
    return added;
  }

  // New nodes start in a ring around the node they came from, so the layout moves them
  // outwards instead of untangling a pile.
  function place(nodes, origin) {
    var count = nodes.length;
    nodes.forEach(function (node, i) {
      var angle = 2 * Math.PI * i / Math.max(count, 1);
      node.position({ x: origin.x + 90 * Math.cos(angle), y: origin.y + 90 * Math.sin(angle) });
    });
  }

  function layout(first) {
    var visible = cy.elements().not(".hidden");
    if (!visible.length) { return; }
    var options = explorer
      ? { name: "cose", animate: false, randomize: !!first, fit: true, padding: 24,
          nodeDimensionsIncludeLabels: true, componentSpacing: 60 }
      : { name: "concentric", animate: false, fit: true, padding: 24, minNodeSpacing: 40,
          spacingFactor: 1.8,
          concentric: function (node) { return node.data("centre") ? 2 : 1; },
          levelWidth: function () { return 1; } };
    var run = visible.layout(options);
    // a few nodes fitted to the box would be drawn huge: fit, but not closer than this
    run.one("layoutstop", function () {
      if (cy.zoom() > 1.3) { cy.zoom(1.3); cy.center(visible); }
    });
    run.run();
  }

  function drawnNodes() { return cy.nodes().not(".hidden"); }

  function drawnEdges() {
    return cy.edges().filter(function (e) {
      return !e.hasClass("hidden") && !e.source().hasClass("hidden") && !e.target().hasClass("hidden");
    });
  }

  function status(text) {
    var el = document.getElementById("graph-status");
    if (el) { el.textContent = text || ""; }
  }

  function update() {
    var nodes = drawnNodes();
    box.setAttribute("data-nodes", String(nodes.length));
    box.setAttribute("data-edges", String(drawnEdges().length));
    if (explorer) {
      renderList(nodes);
    } else {
      renderLegend(nodes);
    }
    box.setAttribute("data-ready", "true");
  }

  function element(tag, className, text) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    if (text) { el.textContent = text; }
    return el;
  }

  function nameOf(d) {
    var name = element(d.url ? "a" : "span", "name", d.label);
    if (d.url) { name.href = d.url; }
    if (d.lang) { name.lang = d.lang; }
    return name;
  }

  function renderList(nodes) {
    var list = document.getElementById("node-list");
    if (!list) { return; }
    var items = document.createDocumentFragment();
    nodes.forEach(function (node) {
      var d = node.data();
      var item = element("li", node.hasClass("path") ? "path" : "");
      item.setAttribute("data-kind", d.kind);
      item.setAttribute("data-id", d.id);
      item.appendChild(element("span", "swatch kind-" + d.kind));
      item.appendChild(element("span", "kind", d.kind_label));
      item.appendChild(document.createTextNode(" "));
      item.appendChild(nameOf(d));
      if (d.shown_in) {
        item.appendChild(document.createTextNode(" "));
        item.appendChild(element("small", "fallback", d.shown_in));
      }
      var button = element("button", "expand", messages.expand);
      button.type = "button";
      button.setAttribute("data-id", d.id);
      item.appendChild(button);
      items.appendChild(item);
    });
    list.replaceChildren(items);
  }

  function renderLegend(nodes) {
    var legend = document.getElementById("graph-legend");
    if (!legend) { return; }
    var seen = {};
    var items = document.createDocumentFragment();
    nodes.forEach(function (node) {
      var d = node.data();
      if (!d.country || seen[d.country]) { return; }
      seen[d.country] = true;
      var item = element("li");
      var swatch = element("span", "swatch");
      swatch.style.backgroundColor = d.color;   // CSSOM, which the policy allows
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(" " + d.country_name));
      items.appendChild(item);
    });
    legend.replaceChildren(items);
  }

  // -- an institution's neighbourhood -------------------------------------------------------

  if (!explorer) {
    add(attr("data-graph", { nodes: [], edges: [] }));
    layout(true);
    update();
    cy.on("tap", "node", function (ev) {
      var d = ev.target.data();
      if (d.url && !d.centre) { window.location.assign(d.url); }
    });
    return;
  }

  // -- the explorer -------------------------------------------------------------------------

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            var error = new Error(body.title || String(response.status));
            error.problem = body;
            throw error;
          }
          return body;
        });
      });
  }

  function query(url, params) {
    var search = new URLSearchParams();
    params.forEach(function (pair) { search.append(pair[0], pair[1]); });
    return url + "?" + search.toString();
  }

  function problemText(error) {
    var problem = error && error.problem;
    if (problem && problem.errors && problem.errors.length) {
      return problem.errors.map(function (e) { return e.field + ": " + e.detail; }).join("; ");
    }
    return (problem && problem.detail) || messages.failed;
  }

  function readFilters() {
    var boxes = Array.prototype.slice.call(document.querySelectorAll("input.filter-kind"));
    var kinds = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    var select = document.getElementById("filter-country");
    return { kinds: kinds.length === boxes.length ? null : kinds,
             country: (select && select.value) || null };
  }

  // A node is hidden when its kind is not shown, or when it has a country of its own
  // (institutions, events, countries) and another country is chosen; paths stay shown.
  function applyFilters() {
    var f = readFilters();
    cy.batch(function () {
      cy.nodes().forEach(function (node) {
        var d = node.data();
        var hidden = !node.hasClass("path") && (
          (f.kinds !== null && f.kinds.indexOf(d.kind) < 0) ||
          (f.country !== null && !!d.country && d.country !== f.country));
        node.toggleClass("hidden", hidden);
      });
    });
  }

  var pending = 0;
  function expand(id) {
    var f = readFilters();
    if (f.kinds && f.kinds.length === 0) { return; }    // every kind hidden: nothing to add
    var params = [["rid", id]];
    (f.kinds || []).forEach(function (k) { params.push(["kind", k]); });
    if (f.country) { params.push(["country", f.country]); }
    pending += 1;
    status(messages.loading);
    return getJSON(query(box.getAttribute("data-neighbours-url"), params)).then(function (doc) {
      var from = cy.getElementById(id);
      var origin = from.nonempty() ? from.position() : { x: 0, y: 0 };
      var added = add(doc);
      place(added.nodes(), origin);
      cy.getElementById(id).addClass("expanded");
      applyFilters();
      layout(false);
      update();
      pending -= 1;
      status(pending ? messages.loading : "");
    }).catch(function (error) {
      pending -= 1;
      status(problemText(error));
    });
  }

  function renderPaths(out, doc) {
    out.replaceChildren();
    if (!doc.paths.length) {
      out.appendChild(element("p", "empty", messages.noPath));
      return;
    }
    doc.paths.forEach(function (path) {
      out.appendChild(element("p", "caption", path.caption));
      var list = element("ol", "path");
      list.setAttribute("data-agreements", String(path.agreements));
      path.steps.forEach(function (step) {
        var item = element("li");
        item.setAttribute("data-id", step.id);
        item.appendChild(nameOf(step));
        if (step.via_label) {
          item.appendChild(document.createTextNode(" "));
          item.appendChild(element("small", "via", step.via_label));
        }
        list.appendChild(item);
      });
      out.appendChild(list);
    });
  }

  function findPaths(ev) {
    ev.preventDefault();
    var out = document.getElementById("path-result");
    var from = document.getElementById("path-from").value.trim();
    var to = document.getElementById("path-to").value.trim();
    if (!from || !to) {
      out.replaceChildren(element("p", "empty", messages.choose));
      return;
    }
    out.replaceChildren(element("p", "", messages.loading));
    getJSON(query(box.getAttribute("data-paths-url"), [["from", from], ["to", to]]))
      .then(function (doc) {
        cy.elements().removeClass("path");
        var extent = cy.extent();
        var added = add(doc, "path");
        place(added.nodes(), { x: (extent.x1 + extent.x2) / 2, y: (extent.y1 + extent.y2) / 2 });
        applyFilters();
        if (added.length) { layout(false); }
        update();
        renderPaths(out, doc);
      })
      .catch(function (error) {
        out.replaceChildren(element("p", "empty", problemText(error)));
      });
  }

  // The name pickers: suggestions come from the institutions endpoint; choosing one fills
  // the rid input beside it.
  function picker(input) {
    var target = document.getElementById(input.getAttribute("data-target"));
    var options = document.getElementById(input.getAttribute("list"));
    var timer = null;
    function choose() {
      var match = Array.prototype.find.call(options.options, function (o) { return o.value === input.value; });
      if (match) { target.value = match.getAttribute("data-rid"); }
    }
    input.addEventListener("change", choose);
    input.addEventListener("input", function () {
      choose();
      clearTimeout(timer);
      var text = input.value.trim();
      if (text.length < 2) { return; }
      timer = setTimeout(function () {
        getJSON(query(box.getAttribute("data-institutions-url"), [["q", text], ["limit", "10"]]))
          .then(function (doc) {
            options.replaceChildren();
            doc.items.forEach(function (n) {
              var option = document.createElement("option");
              option.value = n.country_name ? n.label + " · " + n.country_name : n.label;
              option.setAttribute("data-rid", n.id);
              options.appendChild(option);
            });
            choose();
          })
          .catch(function () { /* suggestions are a convenience: typing a rid still works */ });
      }, 250);
    });
  }

  var start = attr("data-graph", { nodes: [], edges: [] });
  add(start);
  if (start.focus) { cy.getElementById(start.focus).addClass("expanded"); }
  applyFilters();
  layout(true);
  update();

  document.getElementById("node-list").addEventListener("click", function (ev) {
    var button = ev.target.closest("button.expand");
    if (!button) { return; }
    ev.preventDefault();    // without this script the button reloads the page focused there
    expand(button.getAttribute("data-id"));
  });
  cy.on("dbltap", "node", function (ev) { expand(ev.target.id()); });
  cy.on("tap", "node", function (ev) {
    var item = document.querySelector('#node-list li[data-id="' + CSS.escape(ev.target.id()) + '"]');
    if (item) { item.scrollIntoView({ block: "nearest" }); }
  });
  Array.prototype.forEach.call(document.querySelectorAll("input.filter-kind, #filter-country"),
    function (control) { control.addEventListener("change", function () { applyFilters(); update(); }); });
  var form = document.getElementById("path-form");
  if (form) { form.addEventListener("submit", findPaths); }
  Array.prototype.forEach.call(document.querySelectorAll("input[data-target]"), picker);
})();
