//! The path syntax `yaml_edit` takes: `spec.template.spec.containers[0].image`, and list items
//! found by a key, `containers[name=payment-service].image`. Kept apart so the editor reads as
//! tree operations only.

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
    Match(String, String),
}

pub(crate) fn parse_path(path: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    let mut key = String::new();
    let mut chars = path.chars().peekable();
    let mut after_bracket = false;
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if key.is_empty() && !after_bracket {
                    return Err("empty key".to_string());
                }
                if !key.is_empty() {
                    segs.push(Seg::Key(std::mem::take(&mut key)));
                }
                after_bracket = false;
                if chars.peek().is_none() {
                    return Err("ends with `.`".to_string());
                }
            }
            '[' => {
                if !key.is_empty() {
                    segs.push(Seg::Key(std::mem::take(&mut key)));
                }
                let inner: String = chars.by_ref().take_while(|&c| c != ']').collect();
                segs.push(parse_selector(&inner)?);
                after_bracket = true;
                if !matches!(chars.peek(), None | Some('.' | '[')) {
                    return Err("`]` must be followed by `.`, `[` or the end".to_string());
                }
            }
            ']' => return Err("unmatched `]`".to_string()),
            c => key.push(c),
        }
    }
    if !key.is_empty() {
        segs.push(Seg::Key(key));
    }
    Ok(segs)
}

fn parse_selector(inner: &str) -> Result<Seg, String> {
    if let Ok(i) = inner.parse::<usize>() {
        return Ok(Seg::Index(i));
    }
    match inner.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok(Seg::Match(k.to_string(), v.to_string())),
        _ => Err(format!("`[{inner}]` is neither an index nor `key=value`")),
    }
}

pub(crate) fn seg_text(seg: &Seg, first: bool) -> String {
    match seg {
        Seg::Key(k) if first => k.clone(),
        Seg::Key(k) => format!(".{k}"),
        Seg::Index(i) => format!("[{i}]"),
        Seg::Match(k, v) => format!("[{k}={v}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_indexes_and_selectors() {
        let segs = parse_path("spec.containers[name=a.b][0].image").unwrap();
        assert_eq!(
            segs,
            vec![
                Seg::Key("spec".into()),
                Seg::Key("containers".into()),
                Seg::Match("name".into(), "a.b".into()),
                Seg::Index(0),
                Seg::Key("image".into()),
            ]
        );
        assert_eq!(parse_path("").unwrap(), vec![]);
        assert_eq!(parse_path("[2]").unwrap(), vec![Seg::Index(2)]);
        for bad in ["a..b", "a.", "a]", "a[x]", "a[0]b", "a[=v]"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }
}
