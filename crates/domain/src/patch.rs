//! JSON Merge Patch (RFC 7396): how PATCH requests update an entity.

use serde_json::{Map, Value};

/// Applies `patch` to `target`: objects merge recursively, `null` removes a key, anything else
/// replaces. An object patched onto a value that is not one (or onto a key that is absent)
/// merges into an empty object, so its `null`s remove rather than being stored.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else {
        unreachable!("made an object above");
    };
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
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

    #[test]
    fn an_object_patched_onto_a_missing_key_keeps_no_nulls() {
        let mut v = json!({"a": 1, "s": "text"});
        merge(
            &mut v,
            &json!({"g": {"h": null, "i": {"j": null, "k": 2}}, "s": {"t": null}}),
        );
        assert_eq!(v, json!({"a": 1, "g": {"i": {"k": 2}}, "s": {}}));
    }
}
