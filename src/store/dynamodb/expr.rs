//! `UpdateItem` expressions built clause by clause (`SET`, `SET … if_not_exists`, `ADD`, and
//! conditions), with their attribute names and values as generated placeholders (`#n0`,
//! `:v0`): no expression is spliced by hand, an attribute named twice has one placeholder, and
//! no placeholder is left unused (DynamoDB refuses a request that has one).

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;

/// An update's expressions, with their names and values.
#[derive(Debug, Default)]
pub struct UpdateExpr {
    sets: Vec<String>,
    adds: Vec<String>,
    conditions: Vec<String>,
    /// The attributes named, in the order of their placeholders.
    names: Vec<String>,
    /// The values, in the order of their placeholders.
    values: Vec<AttributeValue>,
}

impl UpdateExpr {
    /// The placeholder of attribute `name`: the same each time it is named.
    pub fn name(&mut self, name: &str) -> String {
        if let Some(i) = self.names.iter().position(|n| n.as_str() == name) {
            return format!("#n{i}");
        }
        self.names.push(name.to_owned());
        format!("#n{}", self.names.len() - 1)
    }

    /// The placeholder of a new value.
    pub fn value(&mut self, value: AttributeValue) -> String {
        self.values.push(value);
        format!(":v{}", self.values.len() - 1)
    }

    /// `SET name = value`.
    pub fn set(&mut self, name: &str, value: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(name), self.value(value));
        self.sets.push(format!("{n} = {v}"));
        self
    }

    /// `SET name = if_not_exists(name, value)`: the value the first update wrote is kept.
    pub fn set_if_absent(&mut self, name: &str, value: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(name), self.value(value));
        self.sets.push(format!("{n} = if_not_exists({n}, {v})"));
        self
    }

    /// `ADD name value`: a number added to the attribute, or members to its set.
    pub fn add(&mut self, name: &str, value: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(name), self.value(value));
        self.adds.push(format!("{n} {v}"));
        self
    }

    /// A condition, ANDed with the others (a clause with `OR` comes in its parentheses); its
    /// names and values are placeholders from [`name`](Self::name) and [`value`](Self::value).
    pub fn condition(&mut self, clause: impl Into<String>) -> &mut Self {
        self.conditions.push(clause.into());
        self
    }

    /// The update expression: `SET …, … ADD …, …`.
    pub fn update_expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.adds.is_empty() {
            parts.push(format!("ADD {}", self.adds.join(", ")));
        }
        parts.join(" ")
    }

    /// The condition expression, when there are conditions.
    pub fn condition_expression(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| self.conditions.join(" AND "))
    }

    /// `update` with these expressions, names and values (added to any it has).
    pub fn apply(self, update: UpdateItemFluentBuilder) -> UpdateItemFluentBuilder {
        let mut update = update.update_expression(self.update_expression());
        if let Some(condition) = self.condition_expression() {
            update = update.condition_expression(condition);
        }
        for (i, name) in self.names.into_iter().enumerate() {
            update = update.expression_attribute_names(format!("#n{i}"), name);
        }
        for (i, value) in self.values.into_iter().enumerate() {
            update = update.expression_attribute_values(format!(":v{i}"), value);
        }
        update
    }

    /// The update and condition expressions with each placeholder replaced by its name or
    /// value (strings quoted, sets and maps in braces), for tests to read.
    #[cfg(test)]
    pub fn resolved(&self) -> (String, String) {
        let resolve = |mut text: String| {
            // From the last placeholder down, so that `#n1` never rewrites part of `#n10`.
            for (i, name) in self.names.iter().enumerate().rev() {
                text = text.replace(&format!("#n{i}"), name);
            }
            for (i, value) in self.values.iter().enumerate().rev() {
                text = text.replace(&format!(":v{i}"), &shown(value));
            }
            text
        };
        (
            resolve(self.update_expression()),
            resolve(self.condition_expression().unwrap_or_default()),
        )
    }
}

#[cfg(test)]
fn shown(value: &AttributeValue) -> String {
    match value {
        AttributeValue::S(s) => format!("'{s}'"),
        AttributeValue::N(n) => n.clone(),
        AttributeValue::Ss(s) | AttributeValue::Ns(s) => format!("{{{}}}", s.join(", ")),
        AttributeValue::M(m) => {
            let mut fields: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}: {}", shown(v)))
                .collect();
            fields.sort();
            format!("{{{}}}", fields.join(", "))
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_render_with_one_placeholder_per_attribute() {
        let mut e = UpdateExpr::default();
        e.set("site", AttributeValue::S("example.com".into()))
            .set_if_absent("group", AttributeValue::S("g".into()))
            .add("count", AttributeValue::N("2".into()))
            .add("browsers", AttributeValue::Ss(vec!["Chrome 120".into()]));
        let count = e.name("count");
        let most = e.value(AttributeValue::N("5".into()));
        e.condition(format!(
            "(attribute_not_exists({count}) OR {count} < {most})"
        ));
        assert_eq!(
            e.update_expression(),
            "SET #n0 = :v0, #n1 = if_not_exists(#n1, :v1) ADD #n2 :v2, #n3 :v3"
        );
        assert_eq!(
            e.condition_expression().as_deref(),
            Some("(attribute_not_exists(#n2) OR #n2 < :v4)")
        );
        assert_eq!(e.names, ["site", "group", "count", "browsers"]);
        assert_eq!(e.values.len(), 5);
        assert_eq!(
            e.resolved(),
            (
                "SET site = 'example.com', group = if_not_exists(group, 'g') \
                 ADD count 2, browsers {Chrome 120}"
                    .to_owned(),
                "(attribute_not_exists(count) OR count < 5)".to_owned()
            )
        );
    }

    #[test]
    fn conditions_are_anded_and_optional() {
        let mut e = UpdateExpr::default();
        e.set("a", AttributeValue::S("x".into()));
        assert_eq!(e.condition_expression(), None);
        let a = e.name("a");
        e.condition(format!("attribute_not_exists({a})"))
            .condition(format!("{a} = {a}"));
        assert_eq!(
            e.condition_expression().as_deref(),
            Some("attribute_not_exists(#n0) AND #n0 = #n0")
        );
        assert_eq!(e.names.len(), 1, "named three times, one placeholder");
    }
}
