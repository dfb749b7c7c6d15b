"""profile/provenance.py: the quote around the words that matter."""

from pxprofile.profile import quote


def test_quote_centres_on_the_line_and_marks_cuts():
    filler = "We talked about the weather and the train timetable for a while. " * 6
    message = filler + "Please always answer with metric units, never miles. " + filler
    q = quote(message, "Uses metric units", width=80)
    assert "metric units" in q
    assert q.startswith("…") and q.endswith("…") and len(q) <= 82
    assert quote("  short   message ", "anything") == "short message"
