//! Engine-neutral comparison of query results: every value is rendered the same way whatever
//! type an engine chose for it (DuckDB sums integers into HUGEINT, DataFusion into Int64;
//! timestamps may carry a time zone or not; strings may be views), rows are sorted, floats
//! rounded to 3 decimals.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// A result as column names and sorted, rendered rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Normalized {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

const NULL: &str = "NULL";

fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let r = format!("{v:.3}");
        if r == "-0.000" { "0.000".to_owned() } else { r }
    }
}

/// Renders every value of `array`.
pub fn cells(array: &ArrayRef) -> Result<Vec<String>> {
    let n = array.len();
    let nulls = |values: Vec<String>| -> Vec<String> {
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| if array.is_null(i) { NULL.to_owned() } else { v })
            .collect()
    };
    let data_type = array.data_type();
    let out = match data_type {
        DataType::Null => vec![NULL.to_owned(); n],
        DataType::Dictionary(_, value) => {
            return cells(&cast(array, value).context("casting a dictionary")?);
        }
        DataType::Timestamp(_, _) => {
            let plain = cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let micros = cast(&plain, &DataType::Int64)?;
            let values = micros.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            nulls((0..n).map(|i| format!("ts:{}", values.value(i))).collect())
        }
        t if t.is_numeric() => {
            let floats = cast(array, &DataType::Float64)
                .with_context(|| format!("casting {t} to a float"))?;
            let values = floats.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            nulls((0..n).map(|i| number(values.value(i))).collect())
        }
        DataType::Boolean => {
            let values = array.as_boolean();
            nulls((0..n).map(|i| values.value(i).to_string()).collect())
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let strings = cast(array, &DataType::Utf8)?;
            let values = strings.as_string::<i32>();
            nulls((0..n).map(|i| values.value(i).to_owned()).collect())
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_) => {
            let list = match data_type {
                DataType::List(_) => array.clone(),
                DataType::LargeList(f) | DataType::ListView(f) => {
                    cast(array, &DataType::List(f.clone()))?
                }
                _ => unreachable!(),
            };
            let list = list.as_list::<i32>();
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                if list.is_null(i) {
                    out.push(NULL.to_owned());
                } else {
                    out.push(format!("[{}]", cells(&list.value(i))?.join(", ")));
                }
            }
            out
        }
        _ => {
            let options = FormatOptions::default().with_null(NULL);
            let formatter = ArrayFormatter::try_new(array.as_ref(), &options)?;
            (0..n).map(|i| formatter.value(i).to_string()).collect()
        }
    };
    Ok(out)
}

/// Column names and sorted rendered rows of `batches`.
pub fn normalize(schema: &Schema, batches: &[RecordBatch]) -> Result<Normalized> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| f.name().to_lowercase())
        .collect();
    let mut rows = Vec::new();
    for batch in batches {
        let rendered = batch
            .columns()
            .iter()
            .map(|c| cells(&Arc::clone(c)))
            .collect::<Result<Vec<_>>>()?;
        for r in 0..batch.num_rows() {
            rows.push(rendered.iter().map(|c| c[r].clone()).collect());
        }
    }
    rows.sort();
    Ok(Normalized { columns, rows })
}

/// `Ok` when both results hold the same columns and the same rows; otherwise what differs.
pub fn same(datafusion: &Normalized, duckdb: &Normalized) -> Result<()> {
    if datafusion.columns != duckdb.columns {
        bail!(
            "columns differ: DataFusion {:?}, DuckDB {:?}",
            datafusion.columns,
            duckdb.columns
        );
    }
    if datafusion.rows.len() != duckdb.rows.len() {
        bail!(
            "row counts differ: DataFusion {}, DuckDB {}",
            datafusion.rows.len(),
            duckdb.rows.len()
        );
    }
    if let Some((i, (a, b))) = datafusion
        .rows
        .iter()
        .zip(&duckdb.rows)
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        bail!("sorted row {i} differs: DataFusion {a:?}, DuckDB {b:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        Decimal128Array, Float64Array, Int32Array, Int64Array, ListBuilder, StringArray,
        StringBuilder, StringViewArray, TimestampMicrosecondArray,
    };
    use datafusion::arrow::datatypes::Field;

    fn norm(batch: &RecordBatch) -> Normalized {
        normalize(&batch.schema(), std::slice::from_ref(batch)).unwrap()
    }

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    #[test]
    fn types_do_not_matter_but_values_and_order_insensitivity_do() {
        let mut list = ListBuilder::new(StringBuilder::new());
        list.append_value([Some("CVE-1"), Some("CVE-2")]);
        list.append_null();
        let df = batch(vec![
            (
                "ID",
                Arc::new(StringViewArray::from(vec!["b", "a"])) as ArrayRef,
            ),
            ("n", Arc::new(Int64Array::from(vec![Some(2), None]))),
            ("pct", Arc::new(Float64Array::from(vec![12.5, 1.0 / 3.0]))),
            (
                "at",
                Arc::new(TimestampMicrosecondArray::from(vec![5, 6]).with_timezone("UTC")),
            ),
            ("cves", Arc::new(list.finish())),
        ]);
        let mut list = ListBuilder::new(StringBuilder::new());
        list.append_null();
        list.append_value([Some("CVE-1"), Some("CVE-2")]);
        let duck = batch(vec![
            (
                "id",
                Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
            ),
            (
                "n",
                Arc::new(
                    Decimal128Array::from(vec![None, Some(20)])
                        .with_precision_and_scale(38, 1)
                        .unwrap(),
                ),
            ),
            ("pct", Arc::new(Float64Array::from(vec![0.333_333_1, 12.5]))),
            ("at", Arc::new(TimestampMicrosecondArray::from(vec![6, 5]))),
            ("cves", Arc::new(list.finish())),
        ]);
        let (a, b) = (norm(&df), norm(&duck));
        same(&a, &b).unwrap();
        assert_eq!(a.rows[1], ["b", "2", "12.500", "ts:5", "[CVE-1, CVE-2]"]);

        let mut list = ListBuilder::new(StringBuilder::new());
        list.append_null();
        list.append_value([Some("CVE-1"), Some("CVE-2")]);
        let other = batch(vec![
            (
                "id",
                Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
            ),
            ("n", Arc::new(Int32Array::from(vec![None, Some(3)]))),
            ("pct", Arc::new(Float64Array::from(vec![1.0 / 3.0, 12.5]))),
            ("at", Arc::new(TimestampMicrosecondArray::from(vec![6, 5]))),
            ("cves", Arc::new(list.finish())),
        ]);
        let err = same(&a, &norm(&other)).unwrap_err();
        assert!(err.to_string().contains("sorted row 1 differs"), "{err}");
        let fewer = norm(&df.slice(0, 1));
        assert!(
            same(&a, &fewer)
                .unwrap_err()
                .to_string()
                .contains("row counts")
        );
    }
}
