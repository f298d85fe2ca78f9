"""Checks the page tests run inside the browser: contrast against what is really behind
an element, and how many lines a text takes."""

#: The contrast each visible control and text needs against what is behind it. The
#: backdrop is the first opaque background up the tree, with any translucent ones
#: between laid over it: axe reports contrast over transparent backgrounds as
#: "incomplete", which let white-on-white buttons through.
CONTRAST = """() => {
  const CONTROLS = "button, a.button, input:not([type=hidden]):not([type=checkbox])" +
    ":not([type=radio]), select, textarea, .language, .header-button, .nav-more summary";
  const parse = (text) => {
    const parts = (text.match(/rgba?\\(([^)]*)\\)/) || [null, ""])[1]
      .split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return parts.length >= 3 ? {r: parts[0], g: parts[1], b: parts[2],
      a: parts.length > 3 ? parts[3] : 1} : {r: 0, g: 0, b: 0, a: 0};
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a), a: 1,
  });
  const luminance = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const ratio = (a, b) => {
    const [x, y] = [luminance(a), luminance(b)];
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  };
  const backdrop = (node) => {
    const layers = [];
    for (; node; node = node.parentElement) {
      const color = parse(getComputedStyle(node).backgroundColor);
      if (color.a > 0) { layers.push(color); if (color.a >= 1) break; }
    }
    const white = {r: 255, g: 255, b: 255, a: 1};
    return layers.reverse().reduce((under, top) => over(top, under), white);
  };
  const shown = (node) => {
    const box = node.getBoundingClientRect();
    const style = getComputedStyle(node);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden" &&
      Number(style.opacity) > 0;
  };
  const name = (node) => (node.tagName.toLowerCase() + (node.className ? "." +
    String(node.className).trim().replace(/\\s+/g, ".") : "") + " “" +
    (node.innerText || node.value || "").trim().slice(0, 30) + "”");
  const failures = [];
  for (const node of document.querySelectorAll(CONTROLS)) {
    if (!shown(node) || node.disabled) continue;
    const style = getComputedStyle(node);
    const behind = backdrop(node.parentElement);
    const own = parse(style.backgroundColor);
    let edge = own.a > 0 ? ratio(over(own, behind), behind) : 1;
    if (parseFloat(style.borderTopWidth) >= 1 && style.borderTopStyle !== "none") {
      edge = Math.max(edge, ratio(over(parse(style.borderTopColor), behind), behind));
    }
    if (edge < 3) failures.push(`control ${name(node)}: edge ${edge.toFixed(2)}:1`);
    if (node.matches("input, select, textarea")) {
      const text = ratio(over(parse(style.color), backdrop(node)), backdrop(node));
      if (text < 4.5) failures.push(`control ${name(node)}: text ${text.toFixed(2)}:1`);
    }
  }
  for (const node of document.body.querySelectorAll("*")) {
    if (node.closest("svg, option, [hidden]") || !shown(node)) continue;
    const hasText = Array.from(node.childNodes).some(
      (child) => child.nodeType === Node.TEXT_NODE && child.textContent.trim());
    if (!hasText) continue;
    const back = backdrop(node);
    const text = ratio(over(parse(getComputedStyle(node).color), back), back);
    if (text < 4.5) failures.push(`text ${name(node)}: ${text.toFixed(2)}:1`);
  }
  return failures;
}"""


#: The lines ``node``'s text takes, and the words (runs without spaces) broken across two.
LINES = """(node) => {
  const range = document.createRange();
  const tops = (rects) => new Set(Array.from(rects).filter((r) => r.width > 0)
    .map((r) => Math.round(r.top)));
  range.selectNodeContents(node);
  const lines = tops(range.getClientRects()).size;
  const broken = [];
  const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    const pattern = /[^\\s]+/g;
    let match;
    while ((match = pattern.exec(text.textContent))) {
      range.setStart(text, match.index);
      range.setEnd(text, match.index + match[0].length);
      if (tops(range.getClientRects()).size > 1) broken.push(match[0]);
    }
  }
  return {lines, broken};
}"""
