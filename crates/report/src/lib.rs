//! patchlake's presentation layer: renders query results for people and tools.
//!
//! This crate owns the output formats ([`Format`]): a terminal table, CSV, JSON (an array of
//! objects), Markdown (numbers right-aligned), Parquet, a self-contained HTML page
//! ([`html::render_html`] for several reports with tiles and charts) and an Excel workbook
//! ([`xlsx::render_xlsx`], one sheet per report), written to any [`Write`] or atomically to
//! a file path. Nested values (lists of CVE ids, maps) are rendered as text in the text
//! formats and kept typed in JSON and Parquet.
//!
//! It must not query, filter or aggregate: it renders the batches it is given, unchanged
//! and in order. Parquet output uses the lake's writer settings
//! ([`patchlake_lake::format::writer_properties`]) rather than its own.

use std::fmt;
use std::io::{self, Write};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use patchlake_lake::format::{ROW_GROUP_ROWS, writer_properties};

pub mod html;
pub mod xlsx;

pub use html::{HtmlMeta, Section, render_html};
pub use xlsx::render_xlsx;

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// A boxed table for terminals.
    Table,
    Csv,
    /// A JSON array of objects, one per row, every column present (null when empty).
    Json,
    /// A GitHub-flavoured Markdown table.
    Markdown,
    Parquet,
    /// A self-contained HTML page (no external resources) with a sortable table.
    Html,
    /// An Excel workbook with one sheet.
    Xlsx,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Table,
        Format::Csv,
        Format::Json,
        Format::Markdown,
        Format::Parquet,
        Format::Html,
        Format::Xlsx,
    ];

    /// The name `FromStr` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Markdown => "md",
            Format::Parquet => "parquet",
            Format::Html => "html",
            Format::Xlsx => "xlsx",
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Table => "txt",
            other => other.name(),
        }
    }

    /// Whether the output is binary (not for a terminal).
    pub fn is_binary(self) -> bool {
        matches!(self, Format::Parquet | Format::Xlsx)
    }

    /// The format a file name's extension implies (`.csv`, `.json`, `.md`, `.parquet`, `.txt`).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "markdown" => Some(Format::Markdown),
            "htm" => Some(Format::Html),
            _ => Format::ALL.into_iter().find(|f| f.extension() == ext),
        }
    }
}

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "md" | "markdown" => Ok(Format::Markdown),
            "parquet" => Ok(Format::Parquet),
            "html" => Ok(Format::Html),
            "xlsx" => Ok(Format::Xlsx),
            _ => Err(Error::UnknownFormat {
                value: s.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "unknown output format {value:?}; expected one of table, csv, json, md, parquet, html, xlsx"
    )]
    UnknownFormat { value: String },

    #[error("{format} output needs a schema, but there are no record batches")]
    NoSchema { format: Format },

    #[error("writing {format} output to {path}: {source}")]
    Io {
        format: Format,
        path: String,
        #[source]
        source: io::Error,
    },

    #[error("rendering {format}: {source}")]
    Arrow {
        format: Format,
        #[source]
        source: ArrowError,
    },

    #[error("writing xlsx to {path}: {source}")]
    Xlsx {
        path: String,
        #[source]
        source: xlsx::XlsxFailure,
    },

    #[error("writing parquet to {path}: {source}")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where output goes, for error messages.
const STREAM: &str = "the output stream";

/// Writes `batches` in `format` to `out`.
pub fn write<W: Write + Send>(batches: &[RecordBatch], format: Format, out: W) -> Result<()> {
    write_named(batches, format, out, STREAM)
}

/// Writes `batches` in `format` to the file `path`, atomically (a temporary file in the same
/// directory, renamed into place once complete).
pub fn write_to_path(batches: &[RecordBatch], format: Format, path: &Path) -> Result<()> {
    let shown = path.display().to_string();
    let io_err = |source| Error::Io {
        format,
        path: shown.clone(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".patchlake-report-")
        .tempfile_in(dir)
        .map_err(io_err)?;
    write_named(
        batches,
        format,
        io::BufWriter::new(tmp.as_file_mut()),
        &shown,
    )?;
    tmp.persist(path).map_err(|e| io_err(e.error))?;
    Ok(())
}

/// `batches` rendered in a text format (not Parquet) as a string.
pub fn render(batches: &[RecordBatch], format: Format) -> Result<String> {
    let mut out = Vec::new();
    write(batches, format, &mut out)?;
    String::from_utf8(out).map_err(|e| Error::Io {
        format,
        path: STREAM.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidData, e),
    })
}

fn write_named<W: Write + Send>(
    batches: &[RecordBatch],
    format: Format,
    mut out: W,
    shown: &str,
) -> Result<()> {
    let io_err = |source| Error::Io {
        format,
        path: shown.to_owned(),
        source,
    };
    let arrow_err = |source| Error::Arrow { format, source };
    match format {
        Format::Table => {
            let table = arrow::util::pretty::pretty_format_batches(batches).map_err(arrow_err)?;
            writeln!(out, "{table}").map_err(io_err)?;
        }
        Format::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for batch in batches {
                writer
                    .write(&nested_as_text(batch).map_err(arrow_err)?)
                    .map_err(arrow_err)?;
            }
        }
        Format::Json => {
            let mut writer = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::JsonArray>(&mut out);
            for batch in batches {
                writer.write(batch).map_err(arrow_err)?;
            }
            writer.finish().map_err(arrow_err)?;
            drop(writer);
            writeln!(out).map_err(io_err)?;
        }
        Format::Markdown => write_markdown(batches, &mut out).map_err(|e| match e {
            ArrowError::IoError(_, source) => io_err(source),
            e => arrow_err(e),
        })?,
        Format::Parquet => {
            let schema = batches
                .first()
                .map(RecordBatch::schema)
                .ok_or(Error::NoSchema { format })?;
            let parquet_err = |source| Error::Parquet {
                path: shown.to_owned(),
                source,
            };
            let props = writer_properties(None, false, ROW_GROUP_ROWS);
            let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, schema, Some(props))
                .map_err(parquet_err)?;
            for batch in batches {
                writer.write(batch).map_err(parquet_err)?;
            }
            writer.close().map_err(parquet_err)?;
        }
        Format::Html => {
            let page =
                render_html(&[("report", "", batches)], &HtmlMeta::default()).map_err(arrow_err)?;
            out.write_all(page.as_bytes()).map_err(io_err)?;
        }
        Format::Xlsx => {
            let bytes = render_xlsx(&[("report", batches)]).map_err(|source| Error::Xlsx {
                path: shown.to_owned(),
                source,
            })?;
            out.write_all(&bytes).map_err(io_err)?;
        }
    }
    out.flush().map_err(io_err)
}

fn is_nested(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::Struct(_)
            | DataType::Map(..)
            | DataType::Union(..)
    )
}

/// `batch` with nested columns (lists, structs, maps) rendered as text, which CSV cannot hold.
fn nested_as_text(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| is_nested(f.data_type()))
    {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if is_nested(field.data_type()) {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let text: StringArray = (0..column.len())
                .map(|i| column.is_valid(i).then(|| formatter.value(i).to_string()))
                .collect();
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

fn is_numeric(dt: &DataType) -> bool {
    dt.is_numeric()
}

/// A Markdown cell: pipes escaped, line breaks as `<br>`.
fn md_cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace('\n', "<br>")
}

fn write_markdown<W: Write>(batches: &[RecordBatch], out: &mut W) -> Result<(), ArrowError> {
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        return Ok(());
    };
    let io = |e: io::Error| ArrowError::IoError(e.to_string(), e);
    let header: Vec<String> = schema.fields().iter().map(|f| md_cell(f.name())).collect();
    writeln!(out, "| {} |", header.join(" | ")).map_err(io)?;
    let align: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| {
            if is_numeric(f.data_type()) {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    writeln!(out, "|{}|", align.join("|")).map_err(io)?;
    let options = FormatOptions::default().with_null("");
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| md_cell(&f.value(row).to_string()))
                .collect();
            writeln!(out, "| {} |", cells.join(" | ")).map_err(io)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, ListBuilder, StringBuilder};

    fn sample() -> RecordBatch {
        let mut cves = ListBuilder::new(StringBuilder::new());
        cves.values().append_value("CVE-1");
        cves.values().append_value("CVE-2");
        cves.append(true);
        cves.append(true);
        cves.append_null();
        RecordBatch::try_from_iter([
            (
                "patch_group",
                Arc::new(StringArray::from(vec![Some("web|prod"), None, Some("db")])) as ArrayRef,
            ),
            (
                "instances",
                Arc::new(Int64Array::from(vec![4, 2, 10])) as ArrayRef,
            ),
            (
                "compliance_pct",
                Arc::new(Float64Array::from(vec![Some(50.0), Some(0.0), None])) as ArrayRef,
            ),
            ("cve_ids", Arc::new(cves.finish()) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn formats_parse_by_name_and_extension() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
            assert_eq!(f.to_string().parse::<Format>().unwrap(), f);
            let path = format!("out.{}", f.extension());
            assert_eq!(Format::from_path(Path::new(&path)), Some(f));
        }
        assert_eq!("Markdown".parse::<Format>().unwrap(), Format::Markdown);
        let err = "xls".parse::<Format>().unwrap_err().to_string();
        assert!(
            err.contains("\"xls\"") && err.contains("table, csv, json, md, parquet, html, xlsx"),
            "{err}"
        );
        assert_eq!(Format::from_path(Path::new("out")), None);
    }

    #[test]
    fn markdown_right_aligns_numbers_and_escapes_cells() {
        let md = render(&[sample()], Format::Markdown).unwrap();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(
            lines[0],
            "| patch_group | instances | compliance_pct | cve_ids |"
        );
        assert_eq!(lines[1], "|---|---:|---:|---|");
        assert_eq!(lines[2], "| web\\|prod | 4 | 50.0 | [CVE-1, CVE-2] |");
        assert_eq!(lines[3], "|  | 2 | 0.0 | [] |");
        assert_eq!(lines[4], "| db | 10 |  |  |");
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn csv_has_a_header_and_flattens_lists() {
        let csv = render(&[sample()], Format::Csv).unwrap();
        let expected = "patch_group,instances,compliance_pct,cve_ids\n\
                        web|prod,4,50.0,\"[CVE-1, CVE-2]\"\n\
                        ,2,0.0,[]\n\
                        db,10,,\n";
        assert_eq!(csv, expected);
        let empty = RecordBatch::new_empty(sample().schema());
        assert_eq!(
            render(&[empty], Format::Csv).unwrap(),
            "patch_group,instances,compliance_pct,cve_ids\n"
        );
    }

    #[test]
    fn json_is_an_array_of_objects_with_every_column() {
        let json = render(&[sample(), sample()], Format::Json).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let rows = value.as_array().unwrap();
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[0]["patch_group"], "web|prod");
        assert_eq!(rows[0]["instances"], 4);
        assert_eq!(rows[0]["cve_ids"], serde_json::json!(["CVE-1", "CVE-2"]));
        assert!(rows[1]["patch_group"].is_null());
        assert!(rows[2].as_object().unwrap().contains_key("compliance_pct"));
        assert_eq!(render(&[], Format::Json).unwrap().trim(), "[]");
    }

    #[test]
    fn table_shows_headers_and_values() {
        let table = render(&[sample()], Format::Table).unwrap();
        assert!(
            table.contains("| patch_group | instances | compliance_pct | cve_ids        |"),
            "{table}"
        );
        assert!(
            table.contains("| web|prod    | 4         | 50.0           | [CVE-1, CVE-2] |"),
            "{table}"
        );
    }

    #[test]
    fn parquet_round_trips_to_a_file_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.parquet");
        write_to_path(&[sample(), sample()], Format::Parquet, &path).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 6);
        assert_eq!(batches[0].schema().fields(), sample().schema().fields());
        let err = write(&[], Format::Parquet, Vec::new()).unwrap_err();
        assert!(matches!(err, Error::NoSchema { .. }), "{err}");
        // Nothing but the report is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn write_to_path_names_the_file_in_errors() {
        let path = Path::new("/nonexistent-dir/report.csv");
        let err = write_to_path(&[sample()], Format::Csv, path).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent-dir/report.csv"),
            "{err}"
        );
    }

    fn by_group() -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "patch_group",
                Arc::new(StringArray::from(vec!["<script>alert(1)</script>", "db"])) as ArrayRef,
            ),
            (
                "instances",
                Arc::new(Int64Array::from(vec![4, 6])) as ArrayRef,
            ),
            (
                "compliant",
                Arc::new(Int64Array::from(vec![2, 3])) as ArrayRef,
            ),
            (
                "non_compliant",
                Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
            ),
            ("stale", Arc::new(Int64Array::from(vec![1, 0])) as ArrayRef),
            (
                "unreported",
                Arc::new(Int64Array::from(vec![0, 1])) as ArrayRef,
            ),
            (
                "inactive",
                Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
            ),
            (
                "compliance_pct",
                Arc::new(Float64Array::from(vec![50.0, 50.0])) as ArrayRef,
            ),
            (
                "critical_non_compliant",
                Arc::new(Int64Array::from(vec![1, 1])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    fn trend() -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "run_id",
                Arc::new(StringArray::from(vec!["r1", "r2"])) as ArrayRef,
            ),
            (
                "dt",
                Arc::new(StringArray::from(vec!["2026-11-20", "2026-11-25"])) as ArrayRef,
            ),
            (
                "run_started_at",
                Arc::new(
                    arrow::array::TimestampMicrosecondArray::from(vec![
                        1_795_000_000_000_000,
                        1_795_400_000_000_000,
                    ])
                    .with_timezone("UTC"),
                ) as ArrayRef,
            ),
            (
                "instances",
                Arc::new(Int64Array::from(vec![9, 10])) as ArrayRef,
            ),
            (
                "compliance_pct",
                Arc::new(Float64Array::from(vec![Some(40.0), Some(50.0)])) as ArrayRef,
            ),
            (
                "ok",
                Arc::new(arrow::array::BooleanArray::from(vec![true, false])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn html_is_self_contained_escaped_with_tiles_charts_and_tables() {
        let groups = [by_group()];
        let runs = [trend()];
        let meta = HtmlMeta {
            title: "Patch <compliance>".into(),
            facts: vec![("run".into(), "r2 & co".into())],
        };
        let page = render_html(
            &[
                ("compliance_by_patch_group", "per group", &groups),
                ("compliance_trend", "per run", &runs),
                ("empty", "nothing", &[]),
            ],
            &meta,
        )
        .unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<title>Patch &lt;compliance&gt;</title>"));
        assert!(page.contains("r2 &amp; co"));
        assert!(!page.contains("<script>alert"), "unescaped data");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // Tiles: 10 instances, 5 compliant = 50.0%, 3 non-compliant, 2 critical.
        for tile in [
            "<div class=\"v\">10</div><div class=\"k\">instances</div>",
            "<div class=\"v\">50.0%</div><div class=\"k\">compliant</div>",
            "<div class=\"v\">3</div><div class=\"k\">non-compliant</div>",
            "<div class=\"v\">2</div><div class=\"k\">with critical missing</div>",
            "<div class=\"v\">3</div><div class=\"k\">inactive, counted apart</div>",
        ] {
            assert!(page.contains(tile), "{tile}");
        }
        assert_eq!(page.matches("<rect ").count(), 2, "one bar per group");
        assert!(page.contains("<polyline"), "trend line");
        assert_eq!(page.matches("<table class=\"sortable\">").count(), 2);
        assert!(page.contains("<td class=\"n\">4</td>"));
        assert!(page.contains("<i>no rows</i>"));
        for external in ["http://", "https://", "src=", "href=", "@import"] {
            let hits: Vec<_> = page
                .match_indices(external)
                .filter(|(i, _)| !page[..*i].ends_with("xmlns=\""))
                .collect();
            assert!(hits.is_empty(), "external reference {external}");
        }
        let single = render(&[by_group()], Format::Html).unwrap();
        assert!(single.contains("<th>patch_group</th>"));
    }

    fn sheet_xml(bytes: &[u8], n: usize) -> String {
        let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap();
        let mut file = archive
            .by_name(&format!("xl/worksheets/sheet{n}.xml"))
            .unwrap();
        let mut text = String::new();
        io::Read::read_to_string(&mut file, &mut text).unwrap();
        text
    }

    #[test]
    fn xlsx_has_a_sheet_per_report_with_typed_cells() {
        let groups = [by_group()];
        let runs = [trend()];
        let bytes = render_xlsx(&[
            ("compliance_by_patch_group", &groups),
            ("a/very:long*report?name[that]exceeds thirty-one", &runs),
            ("compliance_by_patch_group", &[]),
        ])
        .unwrap();
        let mut archive = zip::ZipArchive::new(io::Cursor::new(&bytes[..])).unwrap();
        let mut workbook = String::new();
        io::Read::read_to_string(
            &mut archive.by_name("xl/workbook.xml").unwrap(),
            &mut workbook,
        )
        .unwrap();
        assert!(
            workbook.contains("name=\"compliance_by_patch_group\""),
            "{workbook}"
        );
        assert!(
            workbook.contains("name=\"averylongreportnamethatexceeds\""),
            "{workbook}"
        );
        assert!(
            workbook.contains("name=\"compliance_by_patch_group~2\""),
            "{workbook}"
        );
        let first = sheet_xml(&bytes, 1);
        assert!(first.contains("ySplit=\"1\""), "frozen header: {first}");
        assert!(first.contains("<autoFilter ref=\"A1:I3\""), "{first}");
        assert!(
            first.contains("<c r=\"B2\"><v>4</v></c>"),
            "number cell: {first}"
        );
        assert!(first.contains("<cols>"), "column widths");
        let second = sheet_xml(&bytes, 2);
        // Timestamps are dates (a serial number with a date style), booleans are booleans.
        assert!(second.contains("<c r=\"C2\" s=\""), "{second}");
        assert!(second.contains("t=\"b\"><v>1</v>"), "{second}");
        let path = tempfile::tempdir().unwrap();
        let file = path.path().join("r.xlsx");
        write_to_path(&[by_group()], Format::Xlsx, &file).unwrap();
        assert!(std::fs::read(&file).unwrap().starts_with(b"PK"));
    }
}
