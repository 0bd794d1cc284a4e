"""A one-page PDF report of one patient over a period, for the physician's records.

Made in the dashboard process (fpdf2) from what the dashboard shows: the decrypted
tallies, one bar per day of normal and abnormal readings, and the alert history. No
heart rate or score exists here to print. Text uses the PDF core font (Latin-1); a
character outside it (a label in another script) prints as "?" rather than failing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from fpdf import FPDF

from physician.alerts import Alert
from physician.dashboard.views import Reading, TallyRow

PAGE_W, MARGIN = 210.0, 15.0
CHART_H = 45.0
MAX_ALERT_ROWS = 18
ABNORMAL_RGB, NORMAL_RGB = (155, 10, 30), (107, 114, 128)


def _latin1(text: str) -> str:
    return text.encode("latin-1", errors="replace").decode("latin-1")


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M %Z")


def daily_counts(
    readings: Sequence[Reading], first: date, last: date
) -> list[tuple[date, int, int]]:
    """``(day, normal, abnormal)`` for every day from ``first`` to ``last`` (local days)."""
    normal: Counter[date] = Counter()
    abnormal: Counter[date] = Counter()
    for reading in readings:
        day = reading.taken_at.astimezone().date()
        if reading.verdict == "abnormal":
            abnormal[day] += 1
        elif reading.verdict == "normal":
            normal[day] += 1
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [(day, normal[day], abnormal[day]) for day in days]


def patient_report(
    label: str,
    period: str,
    since: datetime | None,
    tallies: Sequence[TallyRow],
    readings: Sequence[Reading],
    alerts: Sequence[Alert],
) -> bytes:
    """The report as PDF bytes.

    Args:
        label: the patient's label.
        period: the period in words ("last 30 days").
        since: its start (None: all time; the chart then starts at the first reading).
        tallies: the decrypted tallies (24 h, 7 days, all time).
        readings: the period's readings with their verdicts.
        alerts: the period's alerts, newest first.
    """
    now = datetime.now(UTC)
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.add_page()
    pdf.set_title(_latin1(f"hrmon report: {label}"))
    width = PAGE_W - 2 * MARGIN

    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(width, 9, _latin1(f"Heart monitoring report: {label}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(
        width,
        5,
        _latin1(f"Period: {period}. Made {_when(now)} on the physician's computer. "),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.multi_cell(
        width,
        4,
        "Each reading's result is one bit (normal / abnormal: heart rate out of the healthy "
        "range, abnormal heart sounds or an irregular rhythm), decrypted with the physician's "
        "key. No heart rate or score is known to this report.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)

    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(width, 7, "Abnormal readings", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for row in tallies:
        pdf.cell(45, 6, _latin1(row.window))
        pdf.cell(width - 45, 6, f"{row.abnormal} abnormal of {row.decided} decided")
        pdf.ln(6)
    pdf.ln(2)

    decided = [r for r in readings if r.verdict in ("normal", "abnormal")]
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(width, 7, "Readings per day", new_x="LMARGIN", new_y="NEXT")
    if decided:
        first = (since or min(r.taken_at for r in decided)).astimezone().date()
        _chart(pdf, daily_counts(decided, first, now.astimezone().date()), width)
    else:
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(width, 6, "No decided readings in this period.", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(width, 7, f"Alerts ({len(alerts)})", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    if not alerts:
        pdf.cell(width, 5, "No alerts in this period.", new_x="LMARGIN", new_y="NEXT")
    for alert in alerts[:MAX_ALERT_ROWS]:
        status = (
            "open"
            if alert.is_open
            else f"acknowledged by {alert.acknowledged_by}, {_when(alert.acknowledged_at)}"
        )
        note = f" - {alert.note}" if alert.note else ""
        pdf.multi_cell(
            width,
            4.5,
            _latin1(f"{_when(alert.occurred_at)}  {alert.description}; {status}{note}"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    if len(alerts) > MAX_ALERT_ROWS:
        pdf.cell(
            width,
            5,
            f"... and {len(alerts) - MAX_ALERT_ROWS} earlier alerts (see the alerts CSV).",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    return bytes(pdf.output())


def _chart(pdf: FPDF, days: list[tuple[date, int, int]], width: float) -> None:
    """Stacked bars (normal below, abnormal above) with dated ticks and the y maximum."""
    top = pdf.get_y() + 2
    left = pdf.l_margin + 10
    plot_w = width - 10
    peak = max(1, max(n + a for _, n, a in days))
    bar_w = plot_w / len(days)
    pdf.set_draw_color(60, 60, 60)
    pdf.line(left, top + CHART_H, left + plot_w, top + CHART_H)
    pdf.line(left, top, left, top + CHART_H)
    pdf.set_font("Helvetica", "", 7)
    pdf.text(pdf.l_margin, top + 3, str(peak))
    pdf.text(pdf.l_margin + 5, top + CHART_H, "0")
    for i, (_, normal, abnormal) in enumerate(days):
        x = left + i * bar_w + bar_w * 0.1
        w = bar_w * 0.8
        h_normal = CHART_H * normal / peak
        h_abnormal = CHART_H * abnormal / peak
        if normal:
            pdf.set_fill_color(*NORMAL_RGB)
            pdf.rect(x, top + CHART_H - h_normal, w, h_normal, style="F")
        if abnormal:
            pdf.set_fill_color(*ABNORMAL_RGB)
            pdf.rect(x, top + CHART_H - h_normal - h_abnormal, w, h_abnormal, style="F")
    step = max(1, len(days) // 6)
    for i in range(0, len(days), step):
        pdf.text(left + i * bar_w, top + CHART_H + 4, days[i][0].isoformat())
    pdf.set_y(top + CHART_H + 6)
    pdf.set_font("Helvetica", "", 8)
    pdf.set_text_color(*ABNORMAL_RGB)
    pdf.cell(25, 4, "abnormal")
    pdf.set_text_color(*NORMAL_RGB)
    pdf.cell(25, 4, "normal")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(5)
