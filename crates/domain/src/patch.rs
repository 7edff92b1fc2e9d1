//! JSON Merge Patch (RFC 7396): how PATCH requests update an entity.

use serde_json::Value;

/// Applies `patch` to `target`: objects merge recursively, `null` removes a key, anything else
/// replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::merge;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc7396() {
        let mut v = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
        merge(
            &mut v,
            &json!({"a": null, "b": {"c": 5}, "e": [2], "f": "x"}),
        );
        assert_eq!(v, json!({"b": {"c": 5, "d": 3}, "e": [2], "f": "x"}));
    }
}
