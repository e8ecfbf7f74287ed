//! A self-contained HTML page for a set of reports: summary tiles, inline SVG charts and
//! sortable tables. No external fetch of any kind (no CDN, fonts or images), so the page
//! opens offline and can be archived as evidence; every text from the data is escaped.

use std::fmt::Write as _;

use arrow::array::{Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// One report on the page: its title, a one-line description and its rows.
pub type Section<'a> = (&'a str, &'a str, &'a [RecordBatch]);

/// What the page says about itself in its header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HtmlMeta {
    /// The page's title, e.g. "Patch compliance".
    pub title: String,
    /// Free-form facts shown under the title, in order: ("run", "2026…"), ("lake", "…").
    pub facts: Vec<(String, String)>,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
h1{margin-bottom:.2em}.facts{color:#555;margin:0 0 1.5em}.facts span{margin-right:1.5em}\
.tiles{display:flex;flex-wrap:wrap;gap:1em;margin-bottom:2em}\
.tile{border:1px solid #ccc;border-radius:6px;padding:.8em 1.2em;min-width:8em}\
.tile .v{font-size:1.8em;font-weight:600}.tile .k{color:#555}\
table{border-collapse:collapse;margin:.5em 0 2em;font-size:.9em}\
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}\
th{background:#f3f3f3;cursor:pointer;user-select:none}td.n{text-align:right}\
th.asc::after{content:' \\25B2'}th.desc::after{content:' \\25BC'}\
.charts{display:flex;flex-wrap:wrap;gap:2em}svg text{font-size:11px}";

const SCRIPT: &str = "document.querySelectorAll('table.sortable th').forEach(function(th){\
th.addEventListener('click',function(){var t=th.closest('table'),b=t.tBodies[0],\
i=Array.prototype.indexOf.call(th.parentNode.children,th),\
d=th.classList.contains('asc')?-1:1;\
t.querySelectorAll('th').forEach(function(h){h.classList.remove('asc','desc')});\
th.classList.add(d>0?'asc':'desc');\
var rows=Array.prototype.slice.call(b.rows);\
rows.sort(function(x,y){var a=x.cells[i].getAttribute('data-v')||x.cells[i].textContent,\
c=y.cells[i].getAttribute('data-v')||y.cells[i].textContent,p=parseFloat(a),q=parseFloat(c);\
if(!isNaN(p)&&!isNaN(q)&&String(p)===a.trim()&&String(q)===c.trim())return d*(p-q);\
return d*a.localeCompare(c)});rows.forEach(function(r){b.appendChild(r)})})});";

/// The page for `sections`, in order.
pub fn render_html(sections: &[Section<'_>], meta: &HtmlMeta) -> Result<String, ArrowError> {
    let mut out = String::new();
    let title = if meta.title.is_empty() {
        "patchlake report"
    } else {
        &meta.title
    };
    // `write!` into a String cannot fail.
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(title),
        escape(title)
    );
    if !meta.facts.is_empty() {
        out.push_str("<p class=\"facts\">");
        for (k, v) in &meta.facts {
            let _ = write!(out, "<span>{}: <b>{}</b></span>", escape(k), escape(v));
        }
        out.push_str("</p>\n");
    }
    if let Some(tiles) = summary(sections)? {
        out.push_str(&tiles);
    }
    let charts = charts(sections)?;
    if !charts.is_empty() {
        let _ = writeln!(out, "<div class=\"charts\">{charts}</div>");
    }
    for (n, (title, description, batches)) in sections.iter().enumerate() {
        let _ = write!(
            out,
            "<h2 id=\"r{n}\">{}</h2>\n<p>{}</p>\n",
            escape(title),
            escape(description)
        );
        table(&mut out, batches)?;
    }
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body></html>\n");
    Ok(out)
}

fn table(out: &mut String, batches: &[RecordBatch]) -> Result<(), ArrowError> {
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        out.push_str("<p><i>no rows</i></p>\n");
        return Ok(());
    };
    out.push_str("<table class=\"sortable\"><thead><tr>");
    for f in schema.fields() {
        let _ = write!(out, "<th>{}</th>", escape(f.name()));
    }
    out.push_str("</tr></thead><tbody>\n");
    let options = FormatOptions::default().with_null("");
    let mut rows = 0;
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            out.push_str("<tr>");
            for (f, field) in formatters.iter().zip(schema.fields()) {
                let text = escape(&f.value(row).to_string());
                if field.data_type().is_numeric() {
                    let _ = write!(out, "<td class=\"n\">{text}</td>");
                } else {
                    let _ = write!(out, "<td>{text}</td>");
                }
            }
            out.push_str("</tr>\n");
            rows += 1;
        }
    }
    out.push_str("</tbody></table>\n");
    if rows == 0 {
        out.push_str("<p><i>no rows</i></p>\n");
    }
    Ok(())
}

/// The values of column `name` of `batches` as f64 (None for nulls); None when there is no
/// such numeric column.
fn numbers(batches: &[RecordBatch], name: &str) -> Result<Option<Vec<Option<f64>>>, ArrowError> {
    let mut out = Vec::new();
    for batch in batches {
        let Some(col) = batch.column_by_name(name) else {
            return Ok(None);
        };
        if !col.data_type().is_numeric() {
            return Ok(None);
        }
        let col = cast(col, &DataType::Float64)?;
        let col = col
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .expect("cast to Float64");
        out.extend((0..col.len()).map(|i| col.is_valid(i).then(|| col.value(i))));
    }
    Ok(Some(out))
}

fn texts(batches: &[RecordBatch], name: &str) -> Result<Option<Vec<String>>, ArrowError> {
    let options = FormatOptions::default().with_null("");
    let mut out = Vec::new();
    for batch in batches {
        let Some(col) = batch.column_by_name(name) else {
            return Ok(None);
        };
        let f = ArrayFormatter::try_new(col.as_ref(), &options)?;
        out.extend((0..col.len()).map(|i| f.value(i).to_string()));
    }
    Ok(Some(out))
}

fn sum(values: &[Option<f64>]) -> f64 {
    values.iter().flatten().sum()
}

/// Tiles from the first section shaped like `compliance_by_*` (per-group status counts,
/// not a per-run trend), plus `critical missing` from it.
fn summary(sections: &[Section<'_>]) -> Result<Option<String>, ArrowError> {
    for (_, _, batches) in sections {
        let has_run = batches
            .first()
            .is_some_and(|b| b.column_by_name("run_id").is_some());
        if has_run {
            continue;
        }
        let cols = [
            "instances",
            "compliant",
            "non_compliant",
            "stale",
            "unreported",
        ];
        let mut values = Vec::new();
        for c in cols {
            match numbers(batches, c)? {
                Some(v) => values.push(sum(&v)),
                None => break,
            }
        }
        if values.len() != cols.len() {
            continue;
        }
        let critical = numbers(batches, "critical_non_compliant")?.map(|v| sum(&v));
        let pct = if values[0] > 0.0 {
            format!("{:.1}%", 100.0 * values[1] / values[0])
        } else {
            "n/a".to_owned()
        };
        let mut tiles = vec![
            ("instances", format!("{}", values[0])),
            ("compliant", pct),
            ("non-compliant", format!("{}", values[2])),
        ];
        if let Some(c) = critical {
            tiles.push(("with critical missing", format!("{c}")));
        }
        tiles.push(("stale", format!("{}", values[3])));
        tiles.push(("unreported", format!("{}", values[4])));
        // Stopped and terminated instances are outside `instances`; say how many.
        if let Some(inactive) = numbers(batches, "inactive")? {
            tiles.push(("inactive, counted apart", format!("{}", sum(&inactive))));
        }
        let mut out = String::from("<div class=\"tiles\">");
        for (k, v) in tiles {
            let _ = write!(
                out,
                "<div class=\"tile\"><div class=\"v\">{}</div><div class=\"k\">{}</div></div>",
                escape(&v),
                escape(k)
            );
        }
        out.push_str("</div>\n");
        return Ok(Some(out));
    }
    Ok(None)
}

/// Bar charts of `compliance_pct` for sections keyed by patch group or baseline, and a line
/// for a per-run trend.
fn charts(sections: &[Section<'_>]) -> Result<String, ArrowError> {
    let mut out = String::new();
    for (title, _, batches) in sections {
        let Some(pct) = numbers(batches, "compliance_pct")? else {
            continue;
        };
        if let Some(runs) = texts(batches, "run_id")? {
            let labels = texts(batches, "dt")?.unwrap_or(runs);
            out.push_str(&line_chart(title, &labels, &pct));
            continue;
        }
        for key in ["patch_group", "baseline_id"] {
            if let Some(labels) = texts(batches, key)? {
                out.push_str(&bar_chart(title, &labels, &pct));
                break;
            }
        }
    }
    Ok(out)
}

fn bar_chart(title: &str, labels: &[String], pct: &[Option<f64>]) -> String {
    const ROW: usize = 20;
    const LABEL: usize = 180;
    const WIDTH: usize = 300;
    let height = 30 + ROW * labels.len();
    let mut svg = format!(
        "<figure><figcaption>{}: compliance %</figcaption>\
         <svg width=\"{}\" height=\"{height}\" role=\"img\">",
        escape(title),
        LABEL + WIDTH + 50
    );
    for (i, (label, value)) in labels.iter().zip(pct).enumerate() {
        let y = 10 + i * ROW;
        let v = value.unwrap_or(0.0).clamp(0.0, 100.0);
        let w = v / 100.0 * WIDTH as f64;
        let shown = value.map_or("n/a".to_owned(), |v| format!("{v:.1}"));
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\"><title>{}</title>{}</text>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"#3b7dd8\"/>\
             <text x=\"{:.1}\" y=\"{}\">{}</text>",
            LABEL - 6,
            y + 13,
            escape(label),
            escape(&chart_label(label)),
            ROW - 4,
            LABEL as f64 + w + 4.0,
            y + 13,
            escape(&shown)
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

/// A bar label that fits the label column: long ones (baseline ARNs) keep their end, which
/// tells them apart, behind an ellipsis; the full label is the bar's tooltip.
fn chart_label(label: &str) -> String {
    const MAX: usize = 24;
    let chars = label.chars().count();
    if chars <= MAX {
        return label.to_owned();
    }
    let tail: String = label.chars().skip(chars - (MAX - 1)).collect();
    format!("…{tail}")
}

fn line_chart(title: &str, labels: &[String], pct: &[Option<f64>]) -> String {
    const W: f64 = 480.0;
    const H: f64 = 200.0;
    const PAD: f64 = 30.0;
    let n = labels.len().max(1);
    let x = |i: usize| {
        if n == 1 {
            PAD + (W - 2.0 * PAD) / 2.0
        } else {
            PAD + i as f64 * (W - 2.0 * PAD) / (n - 1) as f64
        }
    };
    let y = |v: f64| H - PAD - v.clamp(0.0, 100.0) / 100.0 * (H - 2.0 * PAD);
    let points: Vec<String> = pct
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x(i), y(v))))
        .collect();
    let mut svg = format!(
        "<figure><figcaption>{}: compliance % per run</figcaption>\
         <svg width=\"{W}\" height=\"{H}\" role=\"img\">\
         <line x1=\"{PAD}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>\
         <text x=\"2\" y=\"{}\">100</text><text x=\"2\" y=\"{}\">0</text>\
         <polyline fill=\"none\" stroke=\"#3b7dd8\" stroke-width=\"2\" points=\"{}\"/>",
        escape(title),
        H - PAD,
        W - PAD,
        H - PAD,
        y(100.0) + 4.0,
        y(0.0) + 4.0,
        points.join(" ")
    );
    for (i, (label, v)) in labels.iter().zip(pct).enumerate() {
        if let Some(v) = v {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#3b7dd8\"><title>{}: {v:.1}</title></circle>",
                x(i),
                y(*v),
                escape(label)
            );
        }
    }
    if let (Some(first), Some(last)) = (labels.first(), labels.last()) {
        let _ = write!(
            svg,
            "<text x=\"{PAD}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            H - 8.0,
            escape(first),
            W - PAD,
            H - 8.0,
            escape(last)
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bar_labels_keep_their_distinguishing_end() {
        assert_eq!(chart_label("prod"), "prod");
        let arn = "arn:aws:ssm:eu-west-1:270687016919:patchbaseline/pb-0079151c9500082e5";
        let shown = chart_label(arn);
        assert_eq!(shown.chars().count(), 24);
        assert_eq!(shown, "…ne/pb-0079151c9500082e5");
        let svg = bar_chart("by baseline", &[arn.to_owned()], &[Some(25.0)]);
        assert!(
            svg.contains(&format!("<title>{arn}</title>{shown}</text>")),
            "{svg}"
        );
    }
}
