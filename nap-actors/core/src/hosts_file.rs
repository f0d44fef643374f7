//! A container's hosts file with nap's name table in it: pure text in, text out.
//!
//! Docker writes `/etc/hosts` when a container starts: its own lines (localhost, the
//! container's address and hostname) followed by one `address\tname` line per `extra_hosts`
//! entry it was created with. When the project's name table changes later, nap rewrites the
//! file in place: Docker's own lines stay, the `extra_hosts` lines the container was created
//! with are dropped (some may now be wrong), and the current table goes in one delimited
//! block, so a second rewrite replaces exactly what the first wrote. This module only
//! computes the text; reading and writing the file (over SSH or exec) is the patcher's job.

use crate::plan::HostEntry;

/// First line of nap's block.
pub const BLOCK_BEGIN: &str = "# nap: begin (written by nap; edits inside are replaced)";
/// Last line of nap's block.
pub const BLOCK_END: &str = "# nap: end";

/// Start of the line [`padded`] adds.
pub const PADDING: &str = "# nap: padding";

/// `text`, lengthened to at least `length` bytes with a trailing comment line. A hosts file is
/// rewritten in place while programs read it; written over the old content without
/// truncating first, a file that never gets shorter never shows a reader an empty or cut
/// table.
pub fn padded(mut text: String, length: usize) -> String {
    if text.len() < length {
        let spaces = length.saturating_sub(text.len() + PADDING.len() + 1);
        text.push_str(PADDING);
        text.push_str(&" ".repeat(spaces));
        text.push('\n');
    }
    text
}

/// The line Docker writes for an `extra_hosts` entry.
fn docker_line(entry: &HostEntry) -> String {
    format!("{}\t{}", entry.address, entry.name)
}

/// The file `current` becomes when the container, created with `baked` as its name table
/// (`extra_hosts`), should resolve `wanted`. Returns `current` itself when it already does.
pub fn rewrite(current: &str, baked: &[HostEntry], wanted: &[HostEntry]) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut in_block = false;
    for line in current.lines() {
        if line == BLOCK_BEGIN {
            in_block = true;
            continue;
        }
        if in_block {
            if line == BLOCK_END {
                in_block = false;
            }
            continue;
        }
        if line.starts_with(PADDING) {
            continue;
        }
        kept.push(line);
    }
    let baked_lines: Vec<String> = baked.iter().map(docker_line).collect();
    let holds_baked = baked_lines.iter().all(|line| kept.contains(&line.as_str()));
    if baked == wanted && holds_baked {
        // What Docker wrote from `extra_hosts` is already the table.
        let mut text = kept.join("\n");
        text.push('\n');
        return if text == current {
            current.to_string()
        } else {
            text
        };
    }
    let mut text = String::new();
    for line in kept {
        if !baked_lines.iter().any(|baked| baked == line) {
            text.push_str(line);
            text.push('\n');
        }
    }
    text.push_str(BLOCK_BEGIN);
    text.push('\n');
    for entry in wanted {
        text.push_str(&docker_line(entry));
        text.push('\n');
    }
    text.push_str(BLOCK_END);
    text.push('\n');
    if text == current {
        current.to_string()
    } else {
        text
    }
}

/// The table a hosts file resolves: nap's block if it has one, else the lines after Docker's
/// `address\tname` lines that are not loopback (the container's own line and what
/// `extra_hosts` wrote).
pub fn entries_in(text: &str) -> Vec<HostEntry> {
    let parse = |line: &str| {
        let mut fields = line.split_whitespace();
        let address = fields.next()?.parse().ok()?;
        let name = fields.next()?.to_string();
        Some(HostEntry { name, address })
    };
    if let Some(start) = text.lines().position(|line| line == BLOCK_BEGIN) {
        return text
            .lines()
            .skip(start + 1)
            .take_while(|line| *line != BLOCK_END)
            .filter_map(parse)
            .collect();
    }
    text.lines()
        .filter(|line| line.contains('\t'))
        .filter_map(parse)
        .filter(|entry| !entry.address.is_loopback())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, address: &str) -> HostEntry {
        HostEntry {
            name: name.to_string(),
            address: address.parse().unwrap(),
        }
    }

    const DOCKER: &str =
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n172.30.0.2\tabc123\n";

    fn created_with(baked: &[HostEntry]) -> String {
        let mut text = DOCKER.to_string();
        for entry in baked {
            text.push_str(&docker_line(entry));
            text.push('\n');
        }
        text
    }

    #[test]
    fn an_unchanged_table_leaves_the_file_alone() {
        let baked = vec![entry("web", "172.30.1.2"), entry("db", "172.30.2.2")];
        let file = created_with(&baked);
        assert_eq!(rewrite(&file, &baked, &baked), file);
    }

    #[test]
    fn a_new_table_replaces_the_baked_lines_and_keeps_dockers_own() {
        let baked = vec![entry("web", "172.30.1.2"), entry("db", "172.30.2.2")];
        let wanted = vec![entry("web", "172.30.1.2"), entry("web", "172.30.3.2")];
        let file = created_with(&baked);
        let patched = rewrite(&file, &baked, &wanted);
        assert_eq!(
            patched,
            format!("{DOCKER}{BLOCK_BEGIN}\n172.30.1.2\tweb\n172.30.3.2\tweb\n{BLOCK_END}\n")
        );
        assert_eq!(entries_in(&patched), wanted);
        // Rewriting again with the same table changes nothing; a newer table replaces the
        // block rather than adding a second one.
        assert_eq!(rewrite(&patched, &baked, &wanted), patched);
        let newer = vec![entry("web", "172.30.3.2")];
        let again = rewrite(&patched, &baked, &newer);
        assert_eq!(again.matches(BLOCK_BEGIN).count(), 1);
        assert_eq!(entries_in(&again), newer);
        // Back to the create-time table: the block holds it (the baked lines were dropped).
        let back = rewrite(&again, &baked, &baked);
        assert_eq!(entries_in(&back), baked);
        assert!(back.starts_with(DOCKER));
    }

    #[test]
    fn padding_keeps_the_length_and_goes_on_the_next_rewrite() {
        let baked = vec![entry("web", "172.30.1.2"), entry("db", "172.30.2.2")];
        let file = created_with(&baked);
        let shorter = rewrite(&file, &baked, &[entry("web", "172.30.1.2")]);
        let length = shorter.len() + 40;
        let padded_text = padded(shorter.clone(), length);
        assert_eq!(padded_text.len(), length);
        // Less room than the comment itself needs: longer than asked, never shorter.
        assert!(padded(shorter.clone(), shorter.len() + 3).len() >= shorter.len() + 3);
        assert!(padded_text.starts_with(&shorter));
        assert_eq!(entries_in(&padded_text), vec![entry("web", "172.30.1.2")]);
        // Longer text is left as it is; a later rewrite drops the padding line.
        assert_eq!(padded(file.clone(), 3), file);
        let again = rewrite(&padded_text, &baked, &baked);
        assert!(!again.contains(PADDING), "{again}");
    }

    #[test]
    fn entries_of_a_file_docker_wrote() {
        let baked = vec![entry("web", "172.30.1.2"), entry("db", "172.30.2.2")];
        assert_eq!(
            entries_in(&created_with(&baked)),
            [vec![entry("abc123", "172.30.0.2")], baked].concat()
        );
    }
}
