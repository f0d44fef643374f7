//! Docker Compose verbs nap does not have (yet): named as such, with the nap command closest
//! to what the user wanted, and exit status 2 like any usage error — instead of clap's bare
//! "unrecognized subcommand".

/// Compose verbs nap lacks, each with the closest thing nap has.
const MISSING: &[(&str, &str)] = &[
    ("attach", "nap logs -f SERVICE"),
    ("create", "nap up"),
    ("push", "docker push"),
    ("wait", "nap up (it waits for dependencies)"),
];

/// Flags that take a value, before the subcommand (so `-f compose.yaml` is skipped).
const VALUE_FLAGS: &[&str] = &[
    "-f",
    "--file",
    "-p",
    "--project-name",
    "--project-directory",
    "--env-file",
    "--profile",
    "--hosts",
    "--plugin",
];

/// The subcommand word of `args` (after the program name), skipping global flags.
fn subcommand(args: &[String]) -> Option<&str> {
    let mut words = args.iter().skip(1);
    while let Some(word) = words.next() {
        if VALUE_FLAGS.contains(&word.as_str()) {
            words.next();
        } else if !word.starts_with('-') {
            return Some(word);
        }
    }
    None
}

/// The message for a Compose verb nap lacks, if `args` asks for one.
pub fn message(args: &[String]) -> Option<String> {
    let verb = subcommand(args)?;
    let (_, closest) = MISSING.iter().find(|(name, _)| *name == verb)?;
    Some(format!(
        "nap: `{verb}` is a docker compose command that nap does not have yet; the closest: {closest}\n\nFor more information, try 'nap --help'."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn a_missing_verb_is_named_after_global_flags() {
        let text = message(&args("nap -f c.yaml --hosts h.yml attach web")).unwrap();
        assert!(
            text.contains("`attach` is a docker compose command"),
            "{text}"
        );
        assert!(
            message(&args("nap -f attach up")).is_none(),
            "-f's value is not the verb"
        );
        assert!(message(&args("nap up")).is_none());
        assert!(
            message(&args("nap frobnicate")).is_none(),
            "clap names unknown words"
        );
    }
}
