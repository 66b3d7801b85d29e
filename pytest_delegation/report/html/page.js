(() => {
  "use strict";
  const blob = JSON.parse(document.getElementById("tests-data").textContent);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  };
  function table(heads, body) {
    const t = el("table"), tb = el("tbody"), tr = el("tr");
    for (const h of heads) tr.append(el("th", h));
    t.append(el("thead"), tb);
    t.tHead.append(tr);
    body(tb);
    const wrap = el("div", undefined, "scroll");
    wrap.append(t);
    return wrap;
  }
  function tests(tb, flat) {
    let prev = "", file = null;
    for (let i = 0; i < flat.length; i += 3) {
      const id = prev.slice(0, flat[i]) + flat[i + 1], o = blob.o[flat[i + 2]];
      prev = id;
      const k = id.indexOf("::"), f = k < 0 ? "" : id.slice(0, k);
      if (f !== file && (file = f)) {  // a heading row per file
        const tr = el("tr"), th = el("th", f, "file");
        th.colSpan = 2;
        th.scope = "colgroup";
        tr.append(th);
        tb.append(tr);
      }
      const tr = el("tr"), td = el("td");
      td.append(el("code", k < 0 ? id : id.slice(k + 2)));
      tr.append(td, el("td", blob.i[o] + " " + o, "o-" + o));
      tb.append(tr);
    }
  }
  function fill(d) {
    if (d.dataset.done) return;
    d.dataset.done = "1";
    if (d.classList.contains("runs")) {
      d.append(table(["worker", "run", "kind", "start (s)", "duration", "tests", "outcome"],
        (tb) => { for (const r of blob.r) { const tr = el("tr");
          for (const c of r) tr.append(el("td", String(c)));
          tb.append(tr); } }));
    } else {
      const flat = d.dataset.untagged ? blob.u : blob.t[d.dataset.task] || [];
      d.append(table(["test", "outcome"], (tb) => tests(tb, flat)));
    }
  }
  document.addEventListener("toggle", (ev) => {
    const d = ev.target;
    if (d.open && d.classList && d.classList.contains("lazy")) fill(d);
  }, true);

  const form = document.getElementById("finding-filters");
  if (form) {
    const items = Array.from(document.querySelectorAll("#finding-list > li"));
    const count = document.getElementById("finding-count");
    const checked = (name) => new Set(Array.from(
      form.querySelectorAll("input[name='" + name + "']:checked"), (i) => i.value));
    const apply = () => {
      const rules = checked("rule"), sevs = checked("severity"), task = form.elements.task.value;
      let shown = 0;
      for (const li of items) {
        const ok = rules.has(li.dataset.rule) && sevs.has(li.dataset.severity) &&
          (!task || JSON.parse(li.dataset.tasks).includes(task));
        li.hidden = !ok;
        if (ok) shown++;
      }
      count.textContent = "Showing " + shown + " of " + items.length + " findings";
    };
    const showAll = (task) => {
      for (const box of form.querySelectorAll("input[type=checkbox]")) box.checked = true;
      form.elements.task.value = task;
      apply();
    };
    form.addEventListener("change", apply);
    form.addEventListener("reset", (ev) => {  // at once: a native reset updates later
      ev.preventDefault();
      showAll("");
    });
    for (const a of document.querySelectorAll("a[data-finding-task]")) {
      a.addEventListener("click", () => showAll(a.dataset.findingTask));
    }
  }

  const q = document.getElementById("task-q"), st = document.getElementById("task-status");
  const sections = Array.from(document.querySelectorAll("section.task[data-status]"));
  const tcount = document.getElementById("task-count");
  const applyTasks = () => {
    const text = q.value.trim().toLowerCase(), s = st.value;
    let shown = 0;
    for (const sec of sections) {
      const ok = (!s || sec.dataset.status === s) &&
        (!text || sec.id.slice(5).toLowerCase().includes(text));
      sec.hidden = !ok;
      if (ok) shown++;
    }
    tcount.textContent = shown === sections.length ? "" :
      "showing " + shown + " of " + sections.length;
  };
  q.addEventListener("input", applyTasks);
  st.addEventListener("change", applyTasks);
  const reveal = () => {
    let id = location.hash.slice(1);
    try { id = decodeURIComponent(id); } catch (e) { /* not percent-encoded */ }
    const target = id && document.getElementById(id);
    if (target && target.hidden) {
      q.value = "";
      st.value = "";
      applyTasks();
      target.scrollIntoView();
    }
  };
  window.addEventListener("hashchange", reveal);

  // the first failed task in sight inside the graph's box (the page itself stays put)
  const dag = document.querySelector(".scroll.dag");
  const bad = dag && dag.querySelector("a.node.st-failed, a.node.st-error");
  if (bad) {
    const c = dag.getBoundingClientRect(), b = bad.getBoundingClientRect();
    if (b.left < c.left || b.right > c.right) dag.scrollLeft += b.left - c.left - 16;
    if (b.top < c.top || b.bottom > c.bottom) dag.scrollTop += b.top - c.top - 40;
  }
  document.body.dataset.ready = "1";
})();
