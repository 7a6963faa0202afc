"""Browser checks every page must pass: axe-core finds no accessibility violations, and the page
does not scroll sideways on a phone (tables scroll inside their own box instead).

axe-core is vendored (tests/browser/vendor/axe-core, MPL-2.0): the tests need no network.
"""

from pathlib import Path

AXE_SOURCE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}

_RUN_AXE = """async () => {
  const results = await axe.run(document, { resultTypes: ["violations"] });
  return results.violations.map((violation) => ({
    id: violation.id,
    impact: violation.impact,
    help: violation.help,
    nodes: violation.nodes.slice(0, 5).map((node) => node.target.join(" ")),
  }));
}"""


def axe_violations(page) -> list[dict]:
    """axe-core's violations on the page as it is now (WCAG 2 A/AA and best practices)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the browser's debugging protocol, so a strict CSP does not block it.
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8"))
    return page.evaluate(_RUN_AXE)


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return page.evaluate(
        "() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth)"
    )


def widest_elements(page, limit: int = 5) -> list[str]:
    """The elements reaching furthest right, to say what overflows."""
    return page.evaluate(
        """(limit) => {
          const width = window.innerWidth;
          const found = [];
          for (const element of document.body.querySelectorAll("*")) {
            const box = element.getBoundingClientRect();
            const wrap = element.parentElement && element.parentElement.closest(".table-wrap");
            const clipped = wrap && wrap.getBoundingClientRect().right <= width + 1;
            if (box.right > width + 1 && !clipped) {
              const name = element.tagName.toLowerCase() + (element.id ? "#" + element.id : "")
                + (element.className && typeof element.className === "string"
                   ? "." + element.className.trim().split(/\\s+/).join(".") : "");
              found.push(name + " right=" + Math.round(box.right));
            }
          }
          return found.slice(0, limit);
        }""",
        limit,
    )


def page_problems(page, path: str) -> list[str]:
    """Everything wrong with the page at `path` (already loaded), as sentences."""
    problems = []
    overflow = horizontal_overflow(page)
    if overflow:
        problems.append(
            f"{path}: {overflow}px wider than a {page.viewport_size['width']}px screen "
            f"({', '.join(widest_elements(page))})"
        )
    for violation in axe_violations(page):
        problems.append(
            f"{path}: axe {violation['id']} ({violation['impact']}): {violation['help']} "
            f"at {violation['nodes']}"
        )
    return problems
