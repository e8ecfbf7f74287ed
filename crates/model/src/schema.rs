//! The lake's tables and their Arrow schemas: the one place that decides column names and types.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// A table of the lake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Instances,
    PatchStates,
    InstancePatches,
    Baselines,
    PatchGroups,
    InventoryApplications,
    MaintenanceWindows,
    Coverage,
    Runs,
}

impl Table {
    /// Every table, `runs` last (it is the commit record and is written last).
    pub const ALL: [Table; 9] = [
        Table::Instances,
        Table::PatchStates,
        Table::InstancePatches,
        Table::Baselines,
        Table::PatchGroups,
        Table::InventoryApplications,
        Table::MaintenanceWindows,
        Table::Coverage,
        Table::Runs,
    ];

    /// Tables whose rows come from collector tasks (everything but `runs`).
    pub const DATA: [Table; 8] = [
        Table::Instances,
        Table::PatchStates,
        Table::InstancePatches,
        Table::Baselines,
        Table::PatchGroups,
        Table::InventoryApplications,
        Table::MaintenanceWindows,
        Table::Coverage,
    ];

    /// Directory and SQL name of the table.
    pub fn name(self) -> &'static str {
        match self {
            Table::Instances => "instances",
            Table::PatchStates => "patch_states",
            Table::InstancePatches => "instance_patches",
            Table::Baselines => "baselines",
            Table::PatchGroups => "patch_groups",
            Table::InventoryApplications => "inventory_applications",
            Table::MaintenanceWindows => "maintenance_windows",
            Table::Coverage => "coverage",
            Table::Runs => "runs",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Columns committed files are sorted by, most significant first.
    pub fn sort_columns(self) -> &'static [&'static str] {
        match self {
            Table::Instances | Table::PatchStates => &["account_id", "region", "instance_id"],
            Table::InstancePatches => &["account_id", "region", "instance_id", "title"],
            Table::InventoryApplications => &["account_id", "region", "instance_id", "name"],
            Table::Baselines => &["account_id", "region", "baseline_id"],
            Table::PatchGroups => &["account_id", "region", "patch_group", "baseline_id"],
            Table::MaintenanceWindows => &["account_id", "region", "window_id"],
            Table::Coverage => &["account_id", "region"],
            Table::Runs => &[],
        }
    }

    /// The Arrow schema of the table's files (without the `dt`/`run_id` partition columns).
    pub fn schema(self) -> SchemaRef {
        static SCHEMAS: LazyLock<Vec<SchemaRef>> = LazyLock::new(|| {
            Table::ALL
                .iter()
                .map(|t| Arc::new(t.build_schema()))
                .collect()
        });
        SCHEMAS[self as usize].clone()
    }

    fn build_schema(self) -> Schema {
        let mut fields = vec![];
        if self != Table::Runs {
            fields.push(req("account_id", DataType::Utf8));
            fields.push(req("region", DataType::Utf8));
        }
        let more: Vec<Field> = match self {
            Table::Instances => vec![
                req("instance_id", DataType::Utf8),
                opt("computer_name", DataType::Utf8),
                opt("platform_type", DataType::Utf8),
                opt("platform_name", DataType::Utf8),
                opt("platform_version", DataType::Utf8),
                opt("operating_system", DataType::Utf8),
                opt("agent_version", DataType::Utf8),
                opt("ping_status", DataType::Utf8),
                opt("last_ping_at", ts()),
                opt("resource_type", DataType::Utf8),
                opt("ip_address", DataType::Utf8),
                opt("patch_group", DataType::Utf8),
                req("tags", string_map()),
            ],
            Table::PatchStates => vec![
                req("instance_id", DataType::Utf8),
                opt("patch_group", DataType::Utf8),
                opt("baseline_id", DataType::Utf8),
                opt("snapshot_id", DataType::Utf8),
                opt("operation", DataType::Utf8),
                opt("operation_start_at", ts()),
                opt("operation_end_at", ts()),
                req("installed", DataType::Int32),
                req("installed_other", DataType::Int32),
                req("installed_pending_reboot", DataType::Int32),
                req("installed_rejected", DataType::Int32),
                req("missing", DataType::Int32),
                req("failed", DataType::Int32),
                req("not_applicable", DataType::Int32),
                req("unreported_not_applicable", DataType::Int32),
                req("critical_non_compliant", DataType::Int32),
                req("security_non_compliant", DataType::Int32),
                req("other_non_compliant", DataType::Int32),
                opt("reboot_option", DataType::Utf8),
                opt("last_no_reboot_install_at", ts()),
            ],
            Table::InstancePatches => vec![
                req("instance_id", DataType::Utf8),
                req("title", DataType::Utf8),
                opt("kb_id", DataType::Utf8),
                opt("classification", DataType::Utf8),
                opt("severity", DataType::Utf8),
                req("state", DataType::Utf8),
                opt("installed_at", ts()),
                req("cve_ids", string_list()),
            ],
            Table::Baselines => vec![
                req("baseline_id", DataType::Utf8),
                opt("name", DataType::Utf8),
                opt("description", DataType::Utf8),
                opt("operating_system", DataType::Utf8),
                req("is_default", DataType::Boolean),
                req("is_aws_owned", DataType::Boolean),
                req("global_filters", filter_list()),
                req(
                    "approval_rules",
                    list_of(DataType::Struct(Fields::from(vec![
                        req("filters", filter_list()),
                        opt("compliance_level", DataType::Utf8),
                        opt("approve_after_days", DataType::Int32),
                        opt("approve_until_date", DataType::Utf8),
                        req("enable_non_security", DataType::Boolean),
                    ]))),
                ),
                req("approved_patches", string_list()),
                opt("approved_compliance_level", DataType::Utf8),
                req("enable_non_security", DataType::Boolean),
                req("rejected_patches", string_list()),
                opt("rejected_patches_action", DataType::Utf8),
                opt("created_at", ts()),
                opt("modified_at", ts()),
            ],
            Table::PatchGroups => vec![
                req("patch_group", DataType::Utf8),
                req("baseline_id", DataType::Utf8),
                opt("operating_system", DataType::Utf8),
            ],
            Table::InventoryApplications => vec![
                req("instance_id", DataType::Utf8),
                req("name", DataType::Utf8),
                opt("version", DataType::Utf8),
                opt("publisher", DataType::Utf8),
                opt("architecture", DataType::Utf8),
                opt("install_time", DataType::Utf8),
            ],
            Table::MaintenanceWindows => vec![
                req("window_id", DataType::Utf8),
                opt("name", DataType::Utf8),
                opt("schedule", DataType::Utf8),
                opt("duration_hours", DataType::Int32),
                opt("cutoff_hours", DataType::Int32),
                req("enabled", DataType::Boolean),
                opt("next_execution_at", ts()),
                req("target_patch_groups", string_list()),
            ],
            Table::Coverage => vec![
                req("status", DataType::Utf8),
                opt("error_code", DataType::Utf8),
                opt("error_message", DataType::Utf8),
                req("api_calls", DataType::Int64),
                req("throttled_calls", DataType::Int64),
                req("retries", DataType::Int64),
                req("started_at", ts()),
                req("finished_at", ts()),
                req("instances", DataType::Int64),
            ],
            Table::Runs => vec![
                req("started_at", ts()),
                req("finished_at", ts()),
                req("tool_version", DataType::Utf8),
                req("config_sha256", DataType::Utf8),
                req("accounts", DataType::Int32),
                req("regions", DataType::Int32),
                req("tasks_ok", DataType::Int32),
                req("tasks_partial", DataType::Int32),
                req("tasks_failed", DataType::Int32),
                req(
                    "row_counts",
                    DataType::Map(
                        Arc::new(Field::new(
                            "entries",
                            DataType::Struct(Fields::from(vec![
                                req("keys", DataType::Utf8),
                                opt("values", DataType::Int64),
                            ])),
                            false,
                        )),
                        false,
                    ),
                ),
                req(
                    "files",
                    list_of(DataType::Struct(Fields::from(vec![
                        req("table", DataType::Utf8),
                        req("path", DataType::Utf8),
                        req("rows", DataType::Int64),
                        req("bytes", DataType::Int64),
                        req("sha256", DataType::Utf8),
                    ]))),
                ),
            ],
        };
        fields.extend(more);
        Schema::new(fields)
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn req(name: &str, dt: DataType) -> Field {
    Field::new(name, dt, false)
}

fn opt(name: &str, dt: DataType) -> Field {
    Field::new(name, dt, true)
}

/// `timestamp[us, tz=UTC]`, the lake's only timestamp type.
pub fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, true)))
}

fn string_list() -> DataType {
    list_of(DataType::Utf8)
}

fn filter_list() -> DataType {
    list_of(DataType::Struct(Fields::from(vec![
        req("key", DataType::Utf8),
        req("values", string_list()),
    ])))
}

/// `map<utf8, utf8>` with arrow's default field names (what `MapBuilder` produces).
fn string_map() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                req("keys", DataType::Utf8),
                opt("values", DataType::Utf8),
            ])),
            false,
        )),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_account_and_region_but_never_partition_columns() {
        for t in Table::ALL {
            let s = t.schema();
            assert!(s.field_with_name("dt").is_err(), "{t}");
            assert!(s.field_with_name("run_id").is_err(), "{t}");
            if t != Table::Runs {
                assert_eq!(s.field(0).name(), "account_id");
                assert_eq!(s.field(1).name(), "region");
            }
            for c in t.sort_columns() {
                assert!(s.field_with_name(c).is_ok(), "{t}.{c}");
            }
            assert_eq!(Table::from_name(t.name()), Some(t));
        }
    }
}
