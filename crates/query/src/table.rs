//! A table provider over an explicit list of committed Parquet files.
//!
//! DataFusion's `ListingTable` discovers files by listing a directory, which would also find
//! the files of a run that is being finalized or crashed halfway. This provider scans exactly
//! the files named by `runs` records, optionally with `dt` and `run_id` as partition columns,
//! and leaves predicate, row-group and page pruning to DataFusion's Parquet source (filters
//! are pushed down by the physical optimizer).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue, Statistics, project_schema};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;

/// One committed file: absolute local path (or object path in the table's store), size, and partition values (`dt`, `run_id`) when
/// the table has partition columns.
#[derive(Clone, Debug)]
pub struct CommittedFile {
    pub path: String,
    pub size: u64,
    pub partition_values: Vec<String>,
    /// Row count from the run's record, when known: the planner's estimate of the scan's
    /// size (build side of joins, cross joins against one-row `params`).
    pub rows: Option<u64>,
}

/// The lake's partition columns, in path order.
pub const PARTITION_COLUMNS: [&str; 2] = ["dt", "run_id"];

/// Scans a fixed set of Parquet files with a fixed schema.
#[derive(Debug)]
pub struct CommittedFiles {
    file_schema: SchemaRef,
    partition_fields: Vec<FieldRef>,
    schema: SchemaRef,
    files: Vec<CommittedFile>,
    /// The object store the paths are in (the local filesystem unless [`Self::in_store`]).
    store: ObjectStoreUrl,
}

impl CommittedFiles {
    /// Files of one run: the table's own columns only.
    pub fn current(file_schema: SchemaRef, files: Vec<CommittedFile>) -> Self {
        Self::new(file_schema, Vec::new(), files)
    }

    /// Files of many runs, with `dt` and `run_id` (Utf8) appended from each file's partition.
    pub fn history(file_schema: SchemaRef, files: Vec<CommittedFile>) -> Self {
        let partition_fields = PARTITION_COLUMNS
            .iter()
            .map(|name| Arc::new(Field::new(*name, DataType::Utf8, false)))
            .collect();
        Self::new(file_schema, partition_fields, files)
    }

    fn new(
        file_schema: SchemaRef,
        partition_fields: Vec<FieldRef>,
        files: Vec<CommittedFile>,
    ) -> Self {
        // Strings are read as views: the Parquet decoder then points into the dictionary
        // pages instead of copying every value (the lake's strings are dictionary-encoded).
        // `LakeQuery` casts results back to `Utf8`.
        let file_schema = Arc::new(Schema::new_with_metadata(
            file_schema
                .fields()
                .iter()
                .map(|f| match f.data_type() {
                    DataType::Utf8 => {
                        Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View))
                    }
                    _ => f.clone(),
                })
                .collect::<Vec<FieldRef>>(),
            file_schema.metadata().clone(),
        ));
        let mut fields: Vec<FieldRef> = file_schema.fields().iter().cloned().collect();
        fields.extend(partition_fields.iter().cloned());
        let schema = Arc::new(Schema::new(fields));
        CommittedFiles {
            file_schema,
            partition_fields,
            schema,
            files,
            store: ObjectStoreUrl::local_filesystem(),
        }
    }

    /// The files are object paths in `store` (registered with the session), not local paths.
    pub fn in_store(mut self, store: ObjectStoreUrl) -> Self {
        self.store = store;
        self
    }

    /// The files whose partition values (`dt`, `run_id`) can satisfy every filter that reads
    /// partition columns only: a report over the selected run (`run_id = '…'`, inferred by
    /// the planner through the views' joins on `run_id`) or a date range (`dt BETWEEN …`)
    /// opens those runs' files and no others. Filters on file columns are left to the
    /// Parquet source.
    fn prune(&self, state: &dyn Session, filters: &[Expr]) -> DfResult<Vec<&CommittedFile>> {
        let names: Vec<&str> = self
            .partition_fields
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let applicable: Vec<&Expr> = filters
            .iter()
            .filter(|f| !names.is_empty() && expr_applicable_for_cols(&names, f))
            .collect();
        if applicable.is_empty() {
            return Ok(self.files.iter().collect());
        }
        let schema = Arc::new(Schema::new(self.partition_fields.clone()));
        let columns: Vec<ArrayRef> = (0..self.partition_fields.len())
            .map(|i| {
                Arc::new(StringArray::from_iter_values(
                    self.files.iter().map(|f| f.partition_values[i].as_str()),
                )) as ArrayRef
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        let df_schema = DFSchema::try_from(schema)?;
        let mut keep = vec![true; self.files.len()];
        for filter in applicable {
            let expr = state.create_physical_expr(filter.clone(), &df_schema)?;
            let value = expr.evaluate(&batch)?.into_array(batch.num_rows())?;
            let Some(mask) = value.as_any().downcast_ref::<BooleanArray>() else {
                // Not a predicate DataFusion can evaluate here: no pruning by it.
                continue;
            };
            // NULL (unknown) drops the file, as a WHERE clause would drop its rows.
            for (i, k) in keep.iter_mut().enumerate() {
                *k &= mask.is_valid(i) && mask.value(i);
            }
        }
        Ok(self
            .files
            .iter()
            .zip(keep)
            .filter_map(|(f, k)| k.then_some(f))
            .collect())
    }

    async fn plan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let kept = self.prune(state, filters)?;
        if kept.is_empty() {
            let schema = project_schema(&self.schema, projection)?;
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let files: Vec<PartitionedFile> = kept
            .iter()
            .map(|f| {
                PartitionedFile::new(f.path.clone(), f.size).with_partition_values(
                    f.partition_values
                        .iter()
                        .map(|v| ScalarValue::Utf8(Some(v.clone())))
                        .collect(),
                )
            })
            .collect();
        let groups = FileGroup::new(files).split_files(state.config().target_partitions().max(1));
        // Inexact on purpose: an exact count would let `COUNT(*)` skip reading the files,
        // and with it the check that names a damaged file.
        let rows = kept.iter().map(|f| f.rows).sum::<Option<u64>>();
        let mut statistics = Statistics::new_unknown(&self.schema);
        if let Some(rows) = rows {
            // No byte size: compressed Parquet bytes compare badly with in-memory tables.
            statistics.num_rows = Precision::Inexact(rows as usize);
        }
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let table_schema = TableSchema::builder(self.file_schema.clone())
            .with_table_partition_cols(self.partition_fields.clone())
            .build();
        let source = format.file_source(table_schema);
        let config = FileScanConfigBuilder::new(self.store.clone(), source)
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .with_statistics(statistics)
            .build();
        format.create_physical_plan(state, config).await
    }
}

type PlanFuture<'a> = Pin<Box<dyn Future<Output = DfResult<Arc<dyn ExecutionPlan>>> + Send + 'a>>;

// `TableProvider` is an `#[async_trait]` trait; `scan` is written out in the form that macro
// generates because the workspace does not depend on `async-trait` itself.
impl TableProvider for CommittedFiles {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn scan<'life0, 'life1, 'life2, 'life3, 'async_trait>(
        &'life0 self,
        state: &'life1 dyn Session,
        projection: Option<&'life2 Vec<usize>>,
        filters: &'life3 [Expr],
        limit: Option<usize>,
    ) -> PlanFuture<'async_trait>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        'life3: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.plan(state, projection, filters, limit))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Pruned by the Parquet source, re-checked by a filter above the scan.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}
