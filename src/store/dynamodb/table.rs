//! The table definition, read from the SAM template itself (`template.yaml`, embedded at build
//! time), so that `lookout create-table` and the tests create exactly the deployed table.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use serde::Deserialize;
use thiserror::Error;

/// The SAM template, as shipped.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

/// The logical id of the table resource in the template.
pub const TABLE_RESOURCE: &str = "ReportsTable";

/// A template whose table cannot be read, or a failed creation.
#[derive(Debug, Error)]
pub enum TableError {
    /// The template does not parse, or its table does not.
    #[error("template.yaml: {0}")]
    Template(#[from] serde_yaml_ng::Error),
    /// The template has no table.
    #[error("template.yaml has no Resources.{TABLE_RESOURCE}.Properties")]
    NoTable,
    /// DynamoDB refused.
    #[error("creating the table failed")]
    Create(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn create_failed(e: impl std::error::Error + Send + Sync + 'static) -> TableError {
    TableError::Create(Box::new(e))
}

/// The key, index and TTL layout of the table, as the template defines it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDefinition {
    /// Key attributes and their types.
    pub attribute_definitions: Vec<AttributeDef>,
    /// Partition and sort key.
    pub key_schema: Vec<KeyDef>,
    /// `PAY_PER_REQUEST`.
    pub billing_mode: String,
    /// The TTL attribute.
    pub time_to_live_specification: Option<TtlDef>,
    /// The stream the aggregates are counted from.
    pub stream_specification: Option<StreamDef>,
    /// Global secondary indexes (`by_problem`).
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexDef>,
}

/// One global secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDef {
    /// Name.
    pub index_name: String,
    /// Partition and sort key.
    pub key_schema: Vec<KeyDef>,
    /// What the index holds of each item.
    pub projection: ProjectionDef,
}

/// An index's projection.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionDef {
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection_type: String,
    /// The attributes an `INCLUDE` projection holds.
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

/// The stream specification.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamDef {
    /// `NEW_IMAGE`.
    pub stream_view_type: String,
}

/// One key attribute.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDef {
    /// Name.
    pub attribute_name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
}

/// One key schema element.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyDef {
    /// Name.
    pub attribute_name: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

/// The TTL specification.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlDef {
    /// Attribute holding the expiry time.
    pub attribute_name: String,
    /// Whether TTL is on.
    pub enabled: bool,
}

/// Reads the table definition from a template's text.
pub fn definition_from(template: &str) -> Result<TableDefinition, TableError> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(template)?;
    let props = doc
        .get("Resources")
        .and_then(|r| r.get(TABLE_RESOURCE))
        .and_then(|t| t.get("Properties"))
        .ok_or(TableError::NoTable)?;
    Ok(serde_yaml_ng::from_value(props.clone())?)
}

/// The definition of the shipped template.
pub fn definition() -> Result<TableDefinition, TableError> {
    definition_from(TEMPLATE)
}

/// A key schema element of the table or an index.
fn key_element(k: &KeyDef) -> Result<KeySchemaElement, TableError> {
    KeySchemaElement::builder()
        .attribute_name(&k.attribute_name)
        .key_type(KeyType::from(k.key_type.as_str()))
        .build()
        .map_err(create_failed)
}

/// Creates `name` with the template's definition (its indexes included) and turns TTL on;
/// waits until it is active.
pub async fn create(client: &Client, name: &str) -> Result<(), TableError> {
    let def = definition()?;
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(def.billing_mode.as_str()));
    for a in &def.attribute_definitions {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(create_failed)?,
        );
    }
    for k in &def.key_schema {
        req = req.key_schema(key_element(k)?);
    }
    for index in &def.global_secondary_indexes {
        let mut gsi = GlobalSecondaryIndex::builder()
            .index_name(&index.index_name)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::from(
                        index.projection.projection_type.as_str(),
                    ))
                    .set_non_key_attributes(
                        Some(index.projection.non_key_attributes.clone()).filter(|a| !a.is_empty()),
                    )
                    .build(),
            );
        for k in &index.key_schema {
            gsi = gsi.key_schema(key_element(k)?);
        }
        req = req.global_secondary_indexes(gsi.build().map_err(create_failed)?);
    }
    if let Some(stream) = &def.stream_specification {
        req = req.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(stream.stream_view_type.as_str()))
                .build()
                .map_err(create_failed)?,
        );
    }
    req.send().await.map_err(create_failed)?;
    for _ in 0..100 {
        let d = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(create_failed)?;
        let active = d
            .table()
            .and_then(|t| t.table_status())
            .is_some_and(|s| s.as_str() == "ACTIVE");
        if active {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if let Some(ttl) = def.time_to_live_specification.filter(|t| t.enabled) {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl.attribute_name)
                    .enabled(true)
                    .build()
                    .map_err(create_failed)?,
            )
            .send()
            .await
            .map_err(create_failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key schema as (attribute, `HASH`/`RANGE`) pairs.
    fn keys_of(schema: &[KeyDef]) -> Vec<(&str, &str)> {
        schema
            .iter()
            .map(|k| (k.attribute_name.as_str(), k.key_type.as_str()))
            .collect()
    }

    #[test]
    fn the_shipped_template_defines_the_table_the_store_uses() {
        let def = definition().unwrap();
        assert_eq!(def.billing_mode, "PAY_PER_REQUEST");
        let keys = keys_of(&def.key_schema);
        assert_eq!(
            keys,
            vec![
                (super::super::item::PK, "HASH"),
                (super::super::item::SK, "RANGE")
            ]
        );
        let ttl = def.time_to_live_specification.unwrap();
        assert!(ttl.enabled);
        assert_eq!(ttl.attribute_name, super::super::item::TTL);
        assert_eq!(
            def.stream_specification.unwrap().stream_view_type,
            "NEW_IMAGE",
            "the aggregates are counted from the stream's new images"
        );
    }

    #[test]
    fn the_shipped_template_defines_the_index_of_problems() {
        use super::super::item::{BY_PROBLEM, PROBLEM_KEY, SK};
        let def = definition().unwrap();
        let attributes: Vec<(&str, &str)> = def
            .attribute_definitions
            .iter()
            .map(|a| (a.attribute_name.as_str(), a.attribute_type.as_str()))
            .collect();
        assert!(attributes.contains(&(PROBLEM_KEY, "S")), "{attributes:?}");
        assert_eq!(def.global_secondary_indexes.len(), 1);
        let index = &def.global_secondary_indexes[0];
        assert_eq!(index.index_name, BY_PROBLEM.name);
        let keys = keys_of(&index.key_schema);
        assert_eq!(
            keys,
            vec![(BY_PROBLEM.partition_key, "HASH"), (SK, "RANGE")],
            "a problem's reports, newest first by the report's sort key"
        );
        assert_eq!(
            index.projection.projection_type, "ALL",
            "one Query returns a page, without a BatchGetItem"
        );
        // On demand: an index of a PAY_PER_REQUEST table has no throughput of its own.
        assert_eq!(def.billing_mode, "PAY_PER_REQUEST");
    }

    #[test]
    fn a_template_without_indexes_reads() {
        let template = r#"
Resources:
  ReportsTable:
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - AttributeName: pk
          AttributeType: S
      KeySchema:
        - AttributeName: pk
          KeyType: HASH
"#;
        let def = definition_from(template).unwrap();
        assert!(def.global_secondary_indexes.is_empty());
    }
}
