//! Fuzzes variable interpolation ([`nap_core::compose::interpolate`]) and, on the same
//! text, the `.env` parser ([`nap_core::compose::dotenv::parse`]).
//!
//! The input (lossy UTF-8) is one string value; the variables are a small fixed map. Beyond
//! "no panic", it checks that:
//!
//! - interpolating twice gives the same result;
//! - a string without `$` comes out unchanged;
//! - escaping every `$` as `$$` and interpolating gives the input back;
//! - every name looked up is a valid variable name, and one [`referenced_variables`] lists
//!   (which lists valid names, each once);
//! - an error has a message, and an invalid-format error quotes the whole input;
//! - as a `.env` file: the keys parsed are valid names, and an error names a line of the
//!   file and says what is wrong.
//!
//! [`referenced_variables`]: nap_core::compose::interpolate::referenced_variables

#![no_main]

use std::cell::RefCell;
use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use nap_core::compose::dotenv;
use nap_core::compose::interpolate::{InterpolationError, interpolate, referenced_variables};

fn variable(name: &str) -> Option<String> {
    let value = match name {
        "A" => "a",
        "TAG" => "1.2",
        "EMPTY" => "",
        "NESTED" => "${A}",
        "DOLLAR" => "$$",
        "BRACES" => "{}}",
        _ => return None,
    };
    Some(value.to_string())
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_dotenv_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let input = input.as_ref();

    let looked_up = RefCell::new(Vec::new());
    let lookup = |name: &str| {
        looked_up.borrow_mut().push(name.to_string());
        variable(name)
    };
    let result = interpolate(input, &lookup);
    assert_eq!(result, interpolate(input, &variable), "two runs differ");

    if !input.contains('$') {
        assert_eq!(result.as_deref(), Ok(input), "text without $ changed");
    }
    let escaped = input.replace('$', "$$");
    assert_eq!(
        interpolate(&escaped, &variable).as_deref(),
        Ok(input),
        "$$-escaped input does not come back"
    );

    let referenced = referenced_variables(input);
    let unique: BTreeSet<&String> = referenced.iter().collect();
    assert_eq!(
        unique.len(),
        referenced.len(),
        "duplicates in {referenced:?}"
    );
    for name in &referenced {
        assert!(is_variable_name(name), "invalid referenced name {name:?}");
    }
    for name in looked_up.into_inner() {
        assert!(
            is_variable_name(&name),
            "looked up an invalid name {name:?}"
        );
        assert!(
            referenced.contains(&name),
            "looked up {name:?}, which referenced_variables does not list: {referenced:?}"
        );
    }

    if let Err(error) = &result {
        assert!(!error.to_string().trim().is_empty());
        if let InterpolationError::InvalidFormat {
            input: quoted,
            reason,
        } = error
        {
            assert_eq!(quoted, input, "the error quotes another string");
            assert!(!reason.to_string().trim().is_empty());
        }
    }

    match dotenv::parse(input, &variable) {
        Ok(variables) => {
            for (key, _) in &variables {
                assert!(is_dotenv_key(key), "invalid .env key {key:?}");
            }
        }
        Err(error) => {
            let lines = input.lines().count();
            assert!(
                (1..=lines).contains(&error.line),
                "line {} of a {lines}-line file: {}",
                error.line,
                error.message
            );
            assert!(!error.message.trim().is_empty());
        }
    }
});
