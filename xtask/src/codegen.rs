//! The statement policy's child walk, `service/src/policy/classify/children.rs`, generated from
//! the prost output (`src/protobuf.rs`) of the pg_query crate the workspace locks.
//!
//! The walk must reach every node of any statement, so the file has an arm for every `NodeRef`
//! variant and destructures each struct without `..`: a pg_query upgrade that adds a node or a
//! field stops compiling until the file is regenerated, and the regenerated diff is what gets
//! reviewed. What is a child follows from each field's type:
//!
//! - `Option<Box<Node>>` and `Vec<Node>` are children;
//! - `Option<M>`, `Option<Box<M>>` and `Vec<M>` of a message `M` that is itself a node (a
//!   `NodeRef` variant, like `RangeVar`) are children, visited as that variant;
//! - scalars (numbers, flags, enum codes, strings) are `_`;
//! - a oneof whose every variant is a leaf (`A_Const`'s literal value) is `_`: nothing below it
//!   is left to reach;
//! - anything else (a message that is not a node, a oneof with children below it) stops the
//!   generator, since the walk would not see inside it: the rule for it is decided here first.
//!
//! Arms follow the order of `NodeRef` (`src/node_ref.rs`), the enum they match. The text goes
//! through `rustfmt` so that it is exactly what `cargo fmt` leaves; `--check` and the test
//! `codegen::tests::children_rs_is_current` compare it with the committed file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// The generated file, relative to the repository.
pub const CHILDREN_RS: &str = "service/src/policy/classify/children.rs";

/// The workspace's edition, which `cargo fmt` passes to rustfmt.
const EDITION: &str = "2024";

pub fn main(repo: &Path, args: &[String]) -> ExitCode {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => {
            eprintln!("usage: cargo xtask codegen [--check]");
            return ExitCode::from(2);
        }
    };
    let generated = match children_rs(repo) {
        Ok(generated) => generated,
        Err(e) => {
            eprintln!("codegen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let path = repo.join(CHILDREN_RS);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == generated {
        println!("{CHILDREN_RS} is current");
        return ExitCode::SUCCESS;
    }
    if check {
        eprintln!(
            "{CHILDREN_RS} is not what the generator makes of pg_query's protobuf.rs (first \
             difference at line {}): run `cargo xtask codegen`",
            first_difference(&committed, &generated)
        );
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::write(&path, generated) {
        eprintln!("cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    println!("wrote {CHILDREN_RS}");
    ExitCode::SUCCESS
}

/// `children.rs` as the generator makes it from the locked pg_query, formatted.
pub fn children_rs(repo: &Path) -> Result<String, String> {
    let pg_query = pg_query_dir(repo)?;
    let read = |name: &str| {
        let path = pg_query.src.join(name);
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let text = generate(
        &read("protobuf.rs")?,
        &read("node_ref.rs")?,
        &pg_query.version,
    )?;
    let dir = repo.join(CHILDREN_RS);
    rustfmt(&text, dir.parent().unwrap_or(repo))
}

/// The 1-based line where two texts first differ.
fn first_difference(a: &str, b: &str) -> usize {
    let same = a.lines().zip(b.lines()).take_while(|(x, y)| x == y).count();
    same + 1
}

struct PgQuery {
    version: String,
    src: PathBuf,
}

/// The pg_query source the workspace builds with, from `cargo metadata`, so that a version bump
/// in `Cargo.toml` is followed without editing this tool.
fn pg_query_dir(repo: &Path) -> Result<PgQuery, String> {
    // Restricted to the host: without a platform cargo wants every target's dependencies
    // downloaded, which an offline machine that builds fine does not have.
    let rustc = output(
        Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into())).arg("-vV"),
    )?;
    let host = rustc
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .ok_or("`rustc -vV` names no host")?;
    let metadata = output(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args([
                "metadata",
                "--format-version",
                "1",
                "--filter-platform",
                host,
            ])
            .arg("--manifest-path")
            .arg(repo.join("Cargo.toml")),
    )?;
    let metadata: serde_json::Value = serde_json::from_str(&metadata)
        .map_err(|e| format!("cannot read `cargo metadata`'s output: {e}"))?;
    let packages: Vec<&serde_json::Value> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == "pg_query")
        .collect();
    let [package] = packages[..] else {
        return Err(format!(
            "expected one pg_query package in the workspace, found {}",
            packages.len()
        ));
    };
    let (Some(manifest), Some(version)) = (
        package["manifest_path"].as_str(),
        package["version"].as_str(),
    ) else {
        return Err("`cargo metadata` gives pg_query no manifest_path or version".into());
    };
    let dir = Path::new(manifest)
        .parent()
        .ok_or("pg_query's manifest_path has no directory")?;
    Ok(PgQuery {
        version: version.to_owned(),
        src: dir.join("src"),
    })
}

fn output(command: &mut Command) -> Result<String, String> {
    let name = format!("{:?}", command.get_program());
    let out = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{name} failed ({})", out.status));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("{name} printed non-UTF-8: {e}"))
}

/// Formats `text` as `cargo fmt` would a file in `dir` (rustfmt reads its configuration from
/// the working directory when the source comes on stdin).
fn rustfmt(text: &str, dir: &Path) -> Result<String, String> {
    let mut child = Command::new(std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into()))
        .args(["--edition", EDITION])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run rustfmt: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("rustfmt has no stdin")?;
    // A writer thread, so that neither side blocks on a full pipe.
    let (written, out) = std::thread::scope(|s| {
        let writer = s.spawn(move || stdin.write_all(text.as_bytes()));
        let out = child.wait_with_output();
        (writer.join(), out)
    });
    let out = out.map_err(|e| format!("rustfmt: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "rustfmt rejected the generated text ({})",
            out.status
        ));
    }
    written
        .map_err(|_| "rustfmt: the thread writing its input panicked".to_owned())?
        .map_err(|e| format!("rustfmt: {e}"))?;
    String::from_utf8(out.stdout).map_err(|e| format!("rustfmt printed non-UTF-8: {e}"))
}

/// The unformatted text of `children.rs`.
fn generate(protobuf: &str, node_ref: &str, version: &str) -> Result<String, String> {
    let pb = Protobuf::parse(protobuf)?;
    let variants = node_ref_variants(node_ref)?;
    pb.check_variants(&variants)?;
    let mut out = String::new();
    out.push_str(&HEADER.replace("{version}", version));
    out.push_str(FOR_EACH_CHILD);
    for (variant, message) in &variants {
        let fields = pb
            .messages
            .get(message)
            .ok_or_else(|| format!("NodeRef::{variant} holds {message}, which is not a struct"))?;
        let mut pattern = Vec::new();
        let mut visits = String::new();
        for field in fields {
            let name = &field.name;
            let visit = match pb.child(message, field)? {
                Child::No => {
                    pattern.push(format!("{name}: _"));
                    continue;
                }
                Child::One => format!("visit_one({name}, visit);"),
                Child::All => format!("visit_all({name}, visit);"),
                Child::Message(v) => {
                    format!("if let Some(child) = {name} {{\nvisit(NodeRef::{v}(child));\n}}")
                }
                Child::Messages(v) => {
                    format!("for child in {name} {{\nvisit(NodeRef::{v}(child));\n}}")
                }
            };
            pattern.push(name.clone());
            visits.push_str(&visit);
            visits.push('\n');
        }
        let _ = writeln!(
            out,
            "NodeRef::{variant}(n) => {{\nlet pb::{message} {{ {} }} = n;\n{visits}}}",
            pattern.join(", ")
        );
    }
    out.push_str("}\n}\n");
    out.push_str(ADDRESS);
    for (variant, _) in &variants {
        let _ = writeln!(
            out,
            "NodeRef::{variant}(n) => std::ptr::from_ref(n).addr(),"
        );
    }
    out.push_str("}\n}\n");
    out.push_str(HELPERS);
    Ok(out)
}

const HEADER: &str = "\
//! The children of every parse-tree node: what makes the walk reach *every* node.
//!
//! Generated by `cargo xtask codegen` from pg_query {version}'s `src/protobuf.rs`; do not edit by
//! hand. Every struct is destructured without `..`, so a pg_query upgrade that adds a node type
//! or a field fails to compile here until the file is regenerated and the diff reviewed: a
//! field holding a `Node` (or a message that is itself a node, like `RangeVar`) is a child,
//! anything else is `_`. A new statement node also needs its kind in `kind.rs`.

use pg_query::NodeRef;
use pg_query::protobuf as pb;
";

const FOR_EACH_CHILD: &str = "
/// Calls `visit` with every direct child of `parent`: each field that holds a node, in field
/// order. Scalars (names, flags, enum codes, locations) are not children.
pub(super) fn for_each_child<'a>(parent: NodeRef<'a>, visit: &mut impl FnMut(NodeRef<'a>)) {
match parent {
";

const ADDRESS: &str = "
/// The address of the message `node` refers to: the identity the walk uses to recognise a
/// child that its parent has already accounted for (a write target, a CTE body).
pub(super) fn address(node: NodeRef<'_>) -> usize {
match node {
";

/// Fixed text: how a field that holds a `Node` is visited does not depend on the version.
const HELPERS: &str = "
fn visit_one<'a>(child: &'a Option<impl AsRef<pb::Node>>, visit: &mut impl FnMut(NodeRef<'a>)) {
    if let Some(inner) = child.as_ref().and_then(|n| n.as_ref().node.as_ref()) {
        visit(inner.to_ref());
    }
}

fn visit_all<'a>(children: &'a [pb::Node], visit: &mut impl FnMut(NodeRef<'a>)) {
    for inner in children.iter().filter_map(|n| n.node.as_ref()) {
        visit(inner.to_ref());
    }
}
";

/// How the walk reaches a field.
#[derive(Debug, PartialEq)]
enum Child {
    /// Not a child: `_`.
    No,
    /// `Option<Box<Node>>`.
    One,
    /// `Vec<Node>`.
    All,
    /// An optional message that is the named `NodeRef` variant.
    Message(String),
    /// A list of messages that are the named `NodeRef` variant.
    Messages(String),
}

struct Field {
    /// As written, `r#type` included.
    name: String,
    /// The type as a path, e.g. `::core::option::Option<::prost::alloc::boxed::Box<Node>>`.
    ty: String,
    /// Declared `#[prost(oneof = ...)]`.
    oneof: bool,
}

/// What the walk needs of `protobuf.rs`.
struct Protobuf {
    /// Every top-level struct (message) and its fields, in declaration order.
    messages: BTreeMap<String, Vec<Field>>,
    /// Every enum inside a nested module (`node::Node`, `a_const::Val`): variant → the message
    /// it holds. Those with message variants are oneofs.
    oneofs: BTreeMap<String, Vec<(String, String)>>,
}

const OPTION: &str = "::core::option::Option";
const VEC: &str = "::prost::alloc::vec::Vec";
const BOX: &str = "::prost::alloc::boxed::Box";
const SCALARS: &[&str] = &[
    "bool",
    "i32",
    "u32",
    "i64",
    "u64",
    "f32",
    "f64",
    "u8",
    "::prost::alloc::string::String",
];

impl Protobuf {
    fn parse(text: &str) -> Result<Protobuf, String> {
        let file = syn::parse_file(text).map_err(|e| format!("cannot parse protobuf.rs: {e}"))?;
        let mut pb = Protobuf {
            messages: BTreeMap::new(),
            oneofs: BTreeMap::new(),
        };
        for item in &file.items {
            match item {
                syn::Item::Struct(s) => {
                    let fields = s
                        .fields
                        .iter()
                        .map(|f| {
                            Ok(Field {
                                name: f.ident.as_ref().ok_or("a tuple struct")?.to_string(),
                                ty: type_path(&f.ty)?,
                                oneof: f.attrs.iter().any(is_prost_oneof),
                            })
                        })
                        .collect::<Result<_, String>>()
                        .map_err(|e| format!("struct {}: {e}", s.ident))?;
                    pb.messages.insert(s.ident.to_string(), fields);
                }
                syn::Item::Mod(m) => {
                    for item in m.content.iter().flat_map(|(_, items)| items) {
                        let syn::Item::Enum(e) = item else { continue };
                        let mut variants = Vec::new();
                        for v in &e.variants {
                            if let syn::Fields::Unnamed(f) = &v.fields
                                && f.unnamed.len() == 1
                            {
                                let ty = type_path(&f.unnamed[0].ty)?;
                                let ty = unwrap(&ty, BOX).unwrap_or(&ty);
                                let ty = ty.strip_prefix("super::").unwrap_or(ty);
                                variants.push((v.ident.to_string(), ty.to_owned()));
                            }
                        }
                        pb.oneofs
                            .insert(format!("{}::{}", m.ident, e.ident), variants);
                    }
                }
                _ => {}
            }
        }
        Ok(pb)
    }

    /// `NodeRef` and `node::Node` name the same variants holding the same messages; the order
    /// is `NodeRef`'s.
    fn check_variants(&self, node_ref: &[(String, String)]) -> Result<(), String> {
        let node = self
            .oneofs
            .get("node::Node")
            .ok_or("protobuf.rs has no node::Node")?;
        let a: BTreeSet<&(String, String)> = node.iter().collect();
        let b: BTreeSet<&(String, String)> = node_ref.iter().collect();
        if a != b || node.len() != node_ref.len() {
            let only_node: Vec<_> = a.difference(&b).map(|(v, _)| v).collect();
            let only_ref: Vec<_> = b.difference(&a).map(|(v, _)| v).collect();
            return Err(format!(
                "node::Node and NodeRef disagree: only in node::Node {only_node:?}, only in \
                 NodeRef {only_ref:?}"
            ));
        }
        Ok(())
    }

    /// The `NodeRef` variant of a message that is a node.
    fn variant_of(&self, message: &str) -> Option<&str> {
        self.oneofs
            .get("node::Node")?
            .iter()
            .find(|(_, m)| m == message)
            .map(|(v, _)| v.as_str())
    }

    fn child(&self, owner: &str, field: &Field) -> Result<Child, String> {
        let fail = |why: &str| {
            Err(format!(
                "{owner}.{}: {} {why}; decide in xtask/src/codegen.rs how the walk reaches it",
                field.name, field.ty
            ))
        };
        let (many, wrapped, inner) = if let Some(inner) = unwrap(&field.ty, OPTION) {
            (false, true, inner)
        } else if let Some(inner) = unwrap(&field.ty, VEC) {
            (true, true, inner)
        } else {
            (false, false, field.ty.as_str())
        };
        let (boxed, inner) = match unwrap(inner, BOX) {
            Some(inner) => (true, inner),
            None => (false, inner),
        };
        if SCALARS.contains(&inner) {
            return Ok(Child::No);
        }
        if field.oneof {
            let Some(variants) = self.oneofs.get(inner) else {
                return fail("is a oneof this tool does not find");
            };
            for (_, message) in variants {
                let fields = self.messages.get(message).map(Vec::as_slice);
                let leaf = fields.is_some_and(|fields| {
                    fields
                        .iter()
                        .all(|f| matches!(self.child(message, f), Ok(Child::No)))
                });
                if !leaf {
                    return fail(&format!("is a oneof whose {message} is not a leaf"));
                }
            }
            return Ok(Child::No);
        }
        if !wrapped {
            return fail("is neither optional nor a list");
        }
        if inner == "Node" {
            return match (many, boxed) {
                (true, false) => Ok(Child::All),
                (false, true) => Ok(Child::One),
                _ => fail("is a shape of Node the walk has no helper for"),
            };
        }
        if let Some(variant) = self.variant_of(inner) {
            let variant = variant.to_owned();
            return Ok(if many {
                Child::Messages(variant)
            } else {
                Child::Message(variant)
            });
        }
        if self.messages.contains_key(inner) {
            return fail("holds a message that is not a node");
        }
        fail("is a type this tool does not know")
    }
}

fn is_prost_oneof(attr: &syn::Attribute) -> bool {
    let mut oneof = false;
    if attr.path().is_ident("prost") {
        let _ = attr.parse_nested_meta(|meta| {
            oneof |= meta.path.is_ident("oneof");
            if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<syn::Expr>()?;
            }
            Ok(())
        });
    }
    oneof
}

/// `Wrapper<inner>` → `inner`.
fn unwrap<'t>(ty: &'t str, wrapper: &str) -> Option<&'t str> {
    ty.strip_prefix(wrapper)?
        .strip_prefix('<')?
        .strip_suffix('>')
}

/// A type path as text without spaces, e.g. `::core::option::Option<Node>`.
fn type_path(ty: &syn::Type) -> Result<String, String> {
    let syn::Type::Path(syn::TypePath { qself: None, path }) = ty else {
        return Err("a field type that is not a plain path".into());
    };
    let mut out = String::new();
    if path.leading_colon.is_some() {
        out.push_str("::");
    }
    for (i, segment) in path.segments.iter().enumerate() {
        if i > 0 {
            out.push_str("::");
        }
        out.push_str(&segment.ident.to_string());
        match &segment.arguments {
            syn::PathArguments::None => {}
            syn::PathArguments::AngleBracketed(args) => {
                let args = args
                    .args
                    .iter()
                    .map(|arg| match arg {
                        syn::GenericArgument::Type(ty) => type_path(ty),
                        _ => Err("a generic argument that is not a type".into()),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let _ = write!(out, "<{}>", args.join(","));
            }
            syn::PathArguments::Parenthesized(_) => return Err("a function type".into()),
        }
    }
    Ok(out)
}

/// `NodeRef`'s variants in declaration order, each with the message it refers to.
fn node_ref_variants(text: &str) -> Result<Vec<(String, String)>, String> {
    let file = syn::parse_file(text).map_err(|e| format!("cannot parse node_ref.rs: {e}"))?;
    let node_ref = file
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Enum(e) if e.ident == "NodeRef" => Some(e),
            _ => None,
        })
        .ok_or("node_ref.rs has no enum NodeRef")?;
    node_ref
        .variants
        .iter()
        .map(|v| {
            let message = match &v.fields {
                syn::Fields::Unnamed(f) if f.unnamed.len() == 1 => match &f.unnamed[0].ty {
                    syn::Type::Reference(r) => match &*r.elem {
                        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            };
            message
                .map(|m| (v.ident.to_string(), m))
                .ok_or_else(|| format!("NodeRef::{} is not `&'a protobuf::Message`", v.ident))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTOBUF: &str = r#"
        pub struct Node {
            #[prost(oneof = "node::Node", tags = "1, 2, 3")]
            pub node: ::core::option::Option<node::Node>,
        }
        pub mod node {
            pub enum Node {
                #[prost(message, tag = "1")]
                Thing(::prost::alloc::boxed::Box<super::Thing>),
                #[prost(message, tag = "2")]
                Name(super::Name),
                #[prost(message, tag = "3")]
                Integer(super::Integer),
            }
        }
        pub struct Thing {
            pub r#type: i32,
            pub name: ::core::option::Option<Name>,
            pub names: ::prost::alloc::vec::Vec<Name>,
            pub arg: ::core::option::Option<::prost::alloc::boxed::Box<Node>>,
            pub args: ::prost::alloc::vec::Vec<Node>,
            pub label: ::prost::alloc::string::String,
            #[prost(oneof = "thing::Val", tags = "7")]
            pub val: ::core::option::Option<thing::Val>,
            pub token: ::core::option::Option<Token>,
        }
        pub mod thing {
            pub enum Val {
                #[prost(message, tag = "7")]
                Ival(super::Integer),
            }
        }
        pub struct Name {
            pub sval: ::prost::alloc::string::String,
        }
        pub struct Integer {
            pub ival: i32,
        }
        pub struct Token {
            pub start: i32,
        }
    "#;

    #[test]
    fn a_field_is_a_child_when_its_type_holds_a_node() {
        let pb = Protobuf::parse(PROTOBUF).unwrap();
        let children: Vec<_> = pb.messages["Thing"]
            .iter()
            .map(|f| (f.name.as_str(), pb.child("Thing", f)))
            .collect();
        let ok = |c| Ok(c);
        assert_eq!(
            children,
            [
                ("r#type", ok(Child::No)),
                ("name", ok(Child::Message("Name".into()))),
                ("names", ok(Child::Messages("Name".into()))),
                ("arg", ok(Child::One)),
                ("args", ok(Child::All)),
                ("label", ok(Child::No)),
                ("val", ok(Child::No)),
                (
                    "token",
                    Err(
                        "Thing.token: ::core::option::Option<Token> holds a message that is not \
                         a node; decide in xtask/src/codegen.rs how the walk reaches it"
                            .into()
                    )
                ),
            ]
        );
    }

    #[test]
    fn node_ref_and_node_must_agree() {
        let pb = Protobuf::parse(PROTOBUF).unwrap();
        let node_ref = node_ref_variants(
            "pub enum NodeRef<'a> { Name(&'a protobuf::Name), Thing(&'a protobuf::Thing) }",
        )
        .unwrap();
        let err = pb.check_variants(&node_ref).unwrap_err();
        assert!(err.contains(r#"only in node::Node ["Integer"]"#), "{err}");
    }

    /// The committed file is what the generator makes of the locked pg_query.
    #[test]
    fn children_rs_is_current() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let generated = children_rs(&repo).unwrap_or_else(|e| panic!("{e}"));
        let committed = std::fs::read_to_string(repo.join(CHILDREN_RS)).unwrap();
        assert!(
            committed == generated,
            "{CHILDREN_RS} differs from the generator's output at line {}: run `cargo xtask \
             codegen`",
            first_difference(&committed, &generated)
        );
    }
}
