//! Excel workbooks: one sheet per report, a bold frozen header row with an autofilter,
//! column widths from the content, numbers as numbers, booleans as booleans and timestamps
//! as Excel dates (UTC); nested values as text.

use std::collections::HashSet;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use rust_xlsxwriter::{ExcelDateTime, Format as CellFormat, Workbook, Worksheet, XlsxError};

/// A workbook of `sheets` (name, rows), in order, as the bytes of an `.xlsx` file. Sheet
/// names are cut to Excel's 31 characters, stripped of the characters it forbids, and made
/// unique.
pub fn render_xlsx(sheets: &[(&str, &[RecordBatch])]) -> Result<Vec<u8>, XlsxFailure> {
    let mut workbook = Workbook::new();
    let mut used = HashSet::new();
    for (name, batches) in sheets {
        let sheet = workbook.add_worksheet();
        sheet.set_name(sheet_name(name, &mut used))?;
        write_sheet(sheet, batches)?;
    }
    Ok(workbook.save_to_buffer()?)
}

/// Why a workbook could not be written.
#[derive(Debug, thiserror::Error)]
pub enum XlsxFailure {
    #[error(transparent)]
    Xlsx(#[from] XlsxError),
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

fn sheet_name(name: &str, used: &mut HashSet<String>) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\'))
        .collect();
    let clean = clean.trim_matches('\'');
    let cut: String = clean.chars().take(31).collect();
    let base = match cut.trim() {
        "" => "report".to_owned(),
        trimmed => trimmed.to_owned(),
    };
    let mut candidate = base.clone();
    let mut n = 2;
    while !used.insert(candidate.to_lowercase()) {
        let suffix = format!("~{n}");
        let keep = 31 - suffix.len();
        candidate = format!("{}{suffix}", base.chars().take(keep).collect::<String>());
        n += 1;
    }
    candidate
}

enum Kind {
    Number,
    Boolean,
    Timestamp,
    Text,
}

fn kind(dt: &DataType) -> Kind {
    match dt {
        DataType::Boolean => Kind::Boolean,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => Kind::Timestamp,
        dt if dt.is_numeric() => Kind::Number,
        _ => Kind::Text,
    }
}

fn write_sheet(sheet: &mut Worksheet, batches: &[RecordBatch]) -> Result<(), XlsxFailure> {
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        return Ok(());
    };
    let header = CellFormat::new().set_bold();
    let date = CellFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let mut widths: Vec<usize> = Vec::new();
    for (c, field) in schema.fields().iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, field.name(), &header)?;
        widths.push(field.name().chars().count() + 2);
    }
    let options = FormatOptions::default().with_null("");
    let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
    let mut row: u32 = 1;
    for batch in batches {
        for (c, (field, column)) in schema.fields().iter().zip(batch.columns()).enumerate() {
            let col = c as u16;
            match kind(field.data_type()) {
                Kind::Number => {
                    let values = cast(column, &DataType::Float64)?;
                    let values = values.as_primitive::<arrow::datatypes::Float64Type>();
                    for i in 0..values.len() {
                        if values.is_valid(i) {
                            let v = values.value(i);
                            sheet.write_number(row + i as u32, col, v)?;
                            widths[c] = widths[c].max(v.to_string().len() + 1);
                        }
                    }
                }
                Kind::Boolean => {
                    let values = column.as_boolean();
                    for i in 0..values.len() {
                        if values.is_valid(i) {
                            sheet.write_boolean(row + i as u32, col, values.value(i))?;
                        }
                    }
                    widths[c] = widths[c].max(6);
                }
                Kind::Timestamp => {
                    let values = cast(column, &micros)?;
                    let values =
                        values.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
                    for i in 0..values.len() {
                        if values.is_valid(i) {
                            // Whole seconds: Excel's display format shows no more.
                            let seconds = values.value(i).div_euclid(1_000_000);
                            let dt = ExcelDateTime::from_timestamp(seconds)?;
                            sheet.write_datetime_with_format(row + i as u32, col, &dt, &date)?;
                        }
                    }
                    widths[c] = widths[c].max(20);
                }
                Kind::Text => {
                    let f = ArrayFormatter::try_new(column.as_ref(), &options)?;
                    for i in 0..column.len() {
                        if column.is_valid(i) {
                            let text = f.value(i).to_string();
                            widths[c] = widths[c].max(text.chars().count() + 1);
                            sheet.write_string(row + i as u32, col, text)?;
                        }
                    }
                }
            }
        }
        row += batch.num_rows() as u32;
    }
    for (c, w) in widths.iter().enumerate() {
        sheet.set_column_width(c as u16, (*w).min(60) as f64)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    if !widths.is_empty() {
        sheet.autofilter(0, 0, row.saturating_sub(1), (widths.len() - 1) as u16)?;
    }
    Ok(())
}
