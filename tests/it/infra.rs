//! The hub template's generated parts stay equal to their source: the Glue tables in
//! `infra/template.yaml` are the lake schema's (`patchlake_query::athena`), like the DDL in
//! `queries/athena/tables/`. `PATCHLAKE_BLESS=1` rewrites the block.

use std::path::PathBuf;

use patchlake_query::athena::{CFN_BEGIN, CFN_END, glue_tables_cfn};

fn template() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml")
}

#[test]
fn hub_template_glue_tables_match_the_lake_schema() {
    let path = template();
    let text = std::fs::read_to_string(&path).unwrap();
    let begin = text
        .find(CFN_BEGIN)
        .unwrap_or_else(|| panic!("{}: no line {CFN_BEGIN:?}", path.display()));
    let end = text[begin..]
        .find(CFN_END)
        .map(|i| begin + i + CFN_END.len() + 1)
        .unwrap_or_else(|| panic!("{}: no line {CFN_END:?}", path.display()));
    let expected = glue_tables_cfn();
    if text[begin..end] == expected {
        return;
    }
    if std::env::var_os("PATCHLAKE_BLESS").is_some() {
        let rewritten = format!("{}{expected}{}", &text[..begin], &text[end..]);
        std::fs::write(&path, rewritten).unwrap();
        return;
    }
    panic!(
        "{}: the generated Glue tables differ from the lake schema; rerun with PATCHLAKE_BLESS=1",
        path.display()
    );
}

#[test]
fn every_lake_table_has_a_glue_table_and_a_ddl_file() {
    let cfn = glue_tables_cfn();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../queries/athena/tables");
    for table in patchlake_model::Table::ALL {
        let name = table.name();
        assert!(cfn.contains(&format!("Name: {name}\n")), "{name}");
        assert!(cfn.contains(&format!("lake/{name}/dt=${{!dt}}/")), "{name}");
        let ddl = std::fs::read_to_string(root.join(format!("{name}.sql"))).unwrap();
        // Same columns, same order, same types as the DDL.
        for field in table.schema().fields() {
            let t = patchlake_query::athena::hive_type(field.data_type());
            assert!(
                ddl.contains(&format!("`{}` {t}", field.name())),
                "{name}.{}",
                field.name()
            );
            assert!(
                cfn.contains(&format!("{{ Name: {}, Type: \"{t}\" }}", field.name())),
                "{name}.{}",
                field.name()
            );
        }
    }
}
