//! Names derived from Rust identifiers: the default table name and the
//! column constants' names.

/// `OrderLine` -> `order_line`, `HTTPRequest` -> `http_request`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let after_word = i > 0 && {
                let prev = chars[i - 1];
                let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
                prev.is_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_uppercase() && next_is_lower)
            };
            if after_word && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// English plural of a lower-case word: `category` -> `categories`,
/// `box` -> `boxes`, `address` -> `addresses`, `line` -> `lines`.
pub fn plural(word: &str) -> String {
    if let Some(stem) = word.strip_suffix('y')
        && stem
            .chars()
            .last()
            .is_some_and(|c| c.is_alphabetic() && !"aeiou".contains(c))
    {
        return format!("{stem}ies");
    }
    if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|end| word.ends_with(end))
    {
        return format!("{word}es");
    }
    format!("{word}s")
}

/// The default table of a struct: its snake_case name, pluralised.
pub fn table_name(struct_name: &str) -> String {
    plural(&snake_case(struct_name))
}

/// The column constant of a field: `team_id` -> `TEAM_ID`.
pub fn constant_name(field_name: &str) -> String {
    snake_case(field_name).to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_snake_case_plurals() {
        for (name, table) in [
            ("User", "users"),
            ("OrderLine", "order_lines"),
            ("Category", "categories"),
            ("Day", "days"),
            ("Box", "boxes"),
            ("Address", "addresses"),
            ("Match", "matches"),
            ("Wish", "wishes"),
            ("Quiz", "quizes"),
            ("HTTPRequest", "http_requests"),
            ("Item2Tag", "item2_tags"),
            ("already_snake", "already_snakes"),
        ] {
            assert_eq!(table_name(name), table, "{name}");
        }
    }

    #[test]
    fn constants_are_screaming_snake_case() {
        assert_eq!(constant_name("id"), "ID");
        assert_eq!(constant_name("team_id"), "TEAM_ID");
        assert_eq!(constant_name("createdAt"), "CREATED_AT");
    }
}
