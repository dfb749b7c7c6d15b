"""`pxprofile update --review`: accept or reject each proposed change (prompt-toolkit).

CONTRACT (the update command wires it):
    review_changes(changes, diff, *, lines=None, input=None, output=None) -> list[bool]
        Shows the diff, then asks about each change: y(es), n(o), a(ccept all remaining),
        r(eject all remaining), q(uit: reject the rest). ``lines`` (current_lines()) lets it
        show the text a revise/retire replaces. ``input``/``output`` are prompt-toolkit
        Input/Output objects (tests pass create_pipe_input() and DummyOutput()).
        Ctrl-C / Ctrl-D raise KeyboardInterrupt: the update stops and nothing is written.
    make_review(lines=None, *, input=None, output=None) -> ReviewFn
        review_changes to pass as apply_changes(..., review=...); apply_changes fills in the
        current lines (its ``lines`` attribute) so revisions show the text they replace.

Defines no command; it lives in cli/ because it is the only user of prompt-toolkit.
"""

from __future__ import annotations

from pxprofile.text import plural


def describe(change, lines=None) -> str:
    """One line saying what a change does, in the user's terms."""
    old = None
    if change.line_id is not None:
        old = next((ln.text for ln in lines or () if ln.id == change.line_id), None)
    old_text = f'"{old}"' if old is not None else f"line {change.line_id}"
    if change.action == "add":
        what = f'add to {change.section}: "{change.text}"'
    elif change.action == "revise":
        what = f'reword {old_text} -> "{change.text}"'
    elif change.action == "retire":
        what = f"remove {old_text}"
    else:
        what = f"{change.action} {change.text}".strip()
    extra = []
    if change.evidence:
        extra.append(plural(len(change.evidence), "message"))
    if change.reason:
        extra.append(change.reason)
    return what + (f"  ({'; '.join(extra)})" if extra else "")


_ANSWERS = {
    "y": "yes",
    "yes": "yes",
    "n": "no",
    "no": "no",
    "a": "all",
    "all": "all",
    "r": "none",
    "q": "none",
    "quit": "none",
}


def review_changes(changes, diff: str, *, lines=None, input=None, output=None) -> list[bool]:
    from prompt_toolkit import PromptSession, print_formatted_text
    from prompt_toolkit.formatted_text import FormattedText

    def say(fragments) -> None:
        print_formatted_text(FormattedText(fragments), output=output)

    for row in diff.splitlines():
        if row.startswith(("+++", "---")):
            style = "bold"
        elif row.startswith("+"):
            style = "ansigreen"
        elif row.startswith("-"):
            style = "ansired"
        elif row.startswith("@@"):
            style = "ansicyan"
        else:
            style = ""
        say([(style, row)])
    session = PromptSession(input=input, output=output)
    decisions: list[bool] = []
    rest: bool | None = None
    total = len(changes)
    for i, change in enumerate(changes, start=1):
        if rest is not None:
            decisions.append(rest)
            continue
        say([("bold", f"[{i}/{total}] "), ("", describe(change, lines))])
        while True:
            try:
                raw = session.prompt("Accept? [y]es [n]o [a]ll remaining [r]eject remaining: ")
            except EOFError:
                raise KeyboardInterrupt from None
            answer = _ANSWERS.get(raw.strip().lower())
            if answer is not None:
                break
            say([("ansiyellow", "Please answer y, n, a or r.")])
        if answer in ("yes", "no"):
            decisions.append(answer == "yes")
        else:
            rest = answer == "all"
            decisions.append(rest)
    kept = sum(decisions)
    say([("", f"Accepted {kept} of {plural(total, 'change')}.")])
    return decisions


class _Review:
    """review_changes as apply_changes' ``review``; apply_changes sets ``lines`` before calling."""

    def __init__(self, lines=None, input=None, output=None):
        self.lines = lines
        self.input = input
        self.output = output

    def __call__(self, changes, diff):
        return review_changes(changes, diff, lines=self.lines, input=self.input, output=self.output)


def make_review(lines=None, *, input=None, output=None):
    return _Review(lines, input, output)
