//! Which result each upstream row belongs to, so it can be masked by its columns' types.
//!
//! A DataRow carries only values; their types and formats come from elsewhere: a simple
//! query's RowDescription, or, in the extended protocol, the RowDescription of a Describe
//! (of the statement, or of the portal) combined with the result formats of the portal's
//! Bind. The [`Tracker`] follows both directions of a session: client messages as they are
//! forwarded (statement and portal names, Bind formats, what responses to expect, in order),
//! and upstream messages as they arrive (matched against those expectations).
//!
//! A client that executes a portal nobody described (allowed by the protocol) gets a Describe
//! injected before its Execute: [`ClientStep::DescribeFirst`]. The upstream's answer to it is
//! consumed here and never reaches the client, so the gateway always knows what it masks.
//!
//! Pure: no I/O. Architecture Invariant: a DataRow whose shape is unknown is still masked,
//! as text or bytes of unknown type ([`RowSource::Unknown`]), never relayed unexamined.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use hoop_protocol::frontend::{FrontendMessage, Target};
use hoop_protocol::rows::FieldDescription;

use crate::masking::row::RowPlan;
use crate::masking::value::Format;

pub type Fields = Arc<[FieldDescription]>;

/// A prepared statement, as far as the upstream described it.
#[derive(Debug, Default)]
pub struct Statement {
    describe_sent: AtomicBool,
    fields: OnceLock<Option<Fields>>,
    params: OnceLock<Vec<u32>>,
    /// Parameter types given in Parse (0 = let the server infer).
    declared_params: Vec<u32>,
}

impl Statement {
    /// Parameter types: from the upstream's ParameterDescription when it sent one, else as
    /// declared in Parse.
    pub fn param_types(&self) -> &[u32] {
        self.params
            .get()
            .map_or(&self.declared_params[..], |p| &p[..])
    }
}

/// A bound portal: its statement, its result formats, and the plan its rows are masked by.
#[derive(Debug)]
pub struct Portal {
    pub statement: Arc<Statement>,
    result_formats: Vec<i16>,
    describe_sent: AtomicBool,
    fields: OnceLock<Option<Fields>>,
    /// Computed once, at the first row.
    pub plan: OnceLock<Arc<RowPlan>>,
}

impl Portal {
    /// The result columns with the formats rows really use, when known: a Describe of the
    /// portal says both; a Describe of the statement says the columns, Bind the formats.
    pub fn columns(&self) -> Option<(Fields, Vec<Format>)> {
        if let Some(Some(fields)) = self.fields.get() {
            let formats = fields.iter().map(|f| Format::from_code(f.format)).collect();
            return Some((fields.clone(), formats));
        }
        let fields = self.statement.fields.get()?.as_ref()?.clone();
        let formats = (0..fields.len())
            .map(|i| result_format(&self.result_formats, i))
            .collect();
        Some((fields, formats))
    }

    /// The format of column `i` as Bind asked for it (for rows of an unknown shape).
    pub fn bound_format(&self, i: usize) -> Format {
        result_format(&self.result_formats, i)
    }

    /// Whether a Describe answer (of the portal, or of its statement) already arrived or is on
    /// its way, so the shape will be known before the rows.
    fn shape_coming(&self) -> bool {
        self.describe_sent.load(Ordering::Relaxed)
            || self.statement.describe_sent.load(Ordering::Relaxed)
    }
}

/// Bind's result format codes: none = all text, one = all columns, else one per column.
fn result_format(codes: &[i16], i: usize) -> Format {
    match codes {
        [] => Format::Text,
        [one] => Format::from_code(*one),
        many => Format::from_code(many.get(i).copied().unwrap_or(0)),
    }
}

/// What the upstream owes the client, in order.
#[derive(Debug)]
enum Expect {
    /// A simple Query or FunctionCall: everything up to its ReadyForQuery.
    Query,
    Parse,
    Bind,
    DescribeStatement(Arc<Statement>),
    DescribePortal {
        portal: Arc<Portal>,
        /// Sent by the gateway: its answer is not the client's.
        injected: bool,
    },
    Execute(Arc<Portal>),
    Close,
    Sync,
    /// The gateway's own Parse, Bind and Execute (a policy denial, `gateway/policy.rs`): their
    /// answers are not the client's.
    InjectedParse,
    InjectedBind,
    InjectedExecute,
    /// The gateway's own Close of a private statement (an approval for one execution,
    /// `gateway/relay/held.rs`): its CloseComplete is not the client's.
    InjectedClose,
}

/// What to do with a client message the tracker has seen.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientStep {
    Forward,
    /// Send `Describe` of this portal upstream first, then the message.
    DescribeFirst(String),
}

/// Where the columns of a DataRow are described.
#[derive(Clone, Debug)]
pub enum RowSource {
    /// The current simple-query result (its RowDescription came just before).
    Current(Arc<RowPlan>),
    /// Rows of an executed portal.
    Portal(Arc<Portal>),
    /// Nothing describes these rows: mask every value as text or bytes of unknown type.
    Unknown(Option<Arc<Portal>>),
}

/// What an upstream message means for masking.
#[derive(Debug)]
pub enum UpstreamStep {
    /// Relay it (masking its text fields where it has any).
    Relay,
    /// A RowDescription for the rows that follow (a simple query's result): build their plan
    /// and relay it.
    Describes(Fields),
    /// A Describe answer for the client: the statement or portal now knows its columns.
    Described(Fields),
    /// The answer to an injected Describe: swallow it.
    Swallow,
    /// A DataRow: mask it by its source.
    Row(RowSource),
    /// The end of one result (CommandComplete, PortalSuspended, EmptyQueryResponse, error):
    /// flush what was masked in it.
    ResultEnd,
}

/// Follows one session's statements, portals and pending responses.
#[derive(Debug)]
pub struct Tracker {
    statements: HashMap<String, Arc<Statement>>,
    portals: HashMap<String, Arc<Portal>>,
    expected: VecDeque<Expect>,
    /// The plan of the simple-query result being received.
    current: Option<Arc<RowPlan>>,
    /// Whether an undescribed portal gets a Describe first (only results being masked need
    /// their types).
    describe_portals: bool,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new(true)
    }
}

impl Tracker {
    pub fn new(describe_portals: bool) -> Tracker {
        Tracker {
            statements: HashMap::new(),
            portals: HashMap::new(),
            expected: VecDeque::new(),
            current: None,
            describe_portals,
        }
    }

    /// Notes the gateway's own Parse, Bind and Execute, sent in place of a denied Parse.
    pub fn injected(&mut self) {
        self.expected.extend([
            Expect::InjectedParse,
            Expect::InjectedBind,
            Expect::InjectedExecute,
        ]);
    }

    /// Notes the gateway's own Parse, sent before a client message that needs it.
    pub fn injected_parse(&mut self) {
        self.expected.push_back(Expect::InjectedParse);
    }

    /// Notes the gateway's own Close of a statement.
    pub fn injected_close(&mut self) {
        self.expected.push_back(Expect::InjectedClose);
    }

    /// Notes a client message about to be forwarded.
    pub fn client(&mut self, message: &FrontendMessage) -> ClientStep {
        match message {
            FrontendMessage::Query { .. } | FrontendMessage::FunctionCall { .. } => {
                // A simple query destroys the unnamed statement and portal.
                self.statements.remove("");
                self.portals.remove("");
                self.expected.push_back(Expect::Query);
            }
            FrontendMessage::Parse {
                statement,
                param_types,
                ..
            } => {
                let parsed = Statement {
                    declared_params: param_types.clone(),
                    ..Statement::default()
                };
                self.statements.insert(statement.clone(), Arc::new(parsed));
                self.expected.push_back(Expect::Parse);
            }
            FrontendMessage::Bind {
                portal,
                statement,
                result_formats,
                ..
            } => {
                // An unknown statement makes the upstream refuse the Bind; until then rows
                // cannot come from it, and an empty statement describes nothing.
                let statement = self.statements.get(statement).cloned().unwrap_or_default();
                let bound = Portal {
                    statement,
                    result_formats: result_formats.clone(),
                    describe_sent: AtomicBool::new(false),
                    fields: OnceLock::new(),
                    plan: OnceLock::new(),
                };
                self.portals.insert(portal.clone(), Arc::new(bound));
                self.expected.push_back(Expect::Bind);
            }
            FrontendMessage::Describe { target, name } => match target {
                Target::Statement => {
                    let statement = self.statements.get(name).cloned().unwrap_or_default();
                    statement.describe_sent.store(true, Ordering::Relaxed);
                    self.expected
                        .push_back(Expect::DescribeStatement(statement));
                }
                Target::Portal => {
                    let portal = self.portal(name);
                    portal.describe_sent.store(true, Ordering::Relaxed);
                    self.expected.push_back(Expect::DescribePortal {
                        portal,
                        injected: false,
                    });
                }
            },
            FrontendMessage::Execute { portal, .. } => {
                let bound = self.portal(portal);
                let step = if bound.shape_coming() || !self.describe_portals {
                    ClientStep::Forward
                } else {
                    bound.describe_sent.store(true, Ordering::Relaxed);
                    self.expected.push_back(Expect::DescribePortal {
                        portal: bound.clone(),
                        injected: true,
                    });
                    ClientStep::DescribeFirst(portal.clone())
                };
                self.expected.push_back(Expect::Execute(bound));
                return step;
            }
            FrontendMessage::Close { target, name } => {
                match target {
                    Target::Statement => drop(self.statements.remove(name)),
                    Target::Portal => drop(self.portals.remove(name)),
                }
                self.expected.push_back(Expect::Close);
            }
            FrontendMessage::Sync => self.expected.push_back(Expect::Sync),
            _ => {}
        }
        ClientStep::Forward
    }

    /// The statement named `name`, if the client prepared one.
    pub fn statement(&self, name: &str) -> Option<&Arc<Statement>> {
        self.statements.get(name)
    }

    fn portal(&self, name: &str) -> Arc<Portal> {
        self.portals.get(name).cloned().unwrap_or_else(|| {
            Arc::new(Portal {
                statement: Arc::default(),
                result_formats: Vec::new(),
                describe_sent: AtomicBool::new(false),
                fields: OnceLock::new(),
                plan: OnceLock::new(),
            })
        })
    }

    /// The plan for the rows of the current simple-query result, once built from the fields
    /// [`UpstreamStep::Describes`] gave.
    pub fn set_current_plan(&mut self, plan: Arc<RowPlan>) {
        self.current = Some(plan);
    }

    /// Notes an upstream message. `fields` is its decoded RowDescription when `tag` is `T`;
    /// `params` its ParameterDescription when `t`.
    pub fn upstream(
        &mut self,
        tag: u8,
        fields: Option<Fields>,
        params: Option<Vec<u32>>,
    ) -> UpstreamStep {
        match tag {
            b'T' => {
                let fields = fields.unwrap_or_else(|| Arc::from(Vec::new()));
                match self.expected.front() {
                    Some(Expect::DescribeStatement(statement)) => {
                        let _ = statement.fields.set(Some(fields.clone()));
                        self.expected.pop_front();
                        UpstreamStep::Described(fields)
                    }
                    Some(Expect::DescribePortal { portal, injected }) => {
                        let _ = portal.fields.set(Some(fields.clone()));
                        let injected = *injected;
                        self.expected.pop_front();
                        if injected {
                            UpstreamStep::Swallow
                        } else {
                            UpstreamStep::Described(fields)
                        }
                    }
                    _ => {
                        self.current = None;
                        UpstreamStep::Describes(fields)
                    }
                }
            }
            b'n' => match self.expected.front() {
                Some(Expect::DescribeStatement(statement)) => {
                    let _ = statement.fields.set(None);
                    self.expected.pop_front();
                    UpstreamStep::Relay
                }
                Some(Expect::DescribePortal { portal, injected }) => {
                    let _ = portal.fields.set(None);
                    let injected = *injected;
                    self.expected.pop_front();
                    if injected {
                        UpstreamStep::Swallow
                    } else {
                        UpstreamStep::Relay
                    }
                }
                _ => UpstreamStep::Relay,
            },
            b't' => {
                if let (Some(Expect::DescribeStatement(statement)), Some(params)) =
                    (self.expected.front(), params)
                {
                    let _ = statement.params.set(params);
                }
                UpstreamStep::Relay
            }
            b'1' | b'2' => {
                if self.pop_if(|e| matches!(e, Expect::InjectedParse | Expect::InjectedBind)) {
                    return UpstreamStep::Swallow;
                }
                self.pop_if(|e| matches!(e, Expect::Parse | Expect::Bind));
                UpstreamStep::Relay
            }
            b'3' => {
                if self.pop_if(|e| matches!(e, Expect::InjectedClose)) {
                    return UpstreamStep::Swallow;
                }
                self.pop_if(|e| matches!(e, Expect::Close));
                UpstreamStep::Relay
            }
            b'D' => match self.expected.front() {
                Some(Expect::Execute(portal)) => match portal.columns() {
                    Some(_) => UpstreamStep::Row(RowSource::Portal(portal.clone())),
                    None => UpstreamStep::Row(RowSource::Unknown(Some(portal.clone()))),
                },
                _ => match &self.current {
                    Some(plan) => UpstreamStep::Row(RowSource::Current(plan.clone())),
                    None => UpstreamStep::Row(RowSource::Unknown(None)),
                },
            },
            b'C' | b'I' | b's' => {
                if self.pop_if(|e| matches!(e, Expect::InjectedExecute)) {
                    return UpstreamStep::Swallow;
                }
                if !self.pop_if(|e| matches!(e, Expect::Execute(_))) {
                    self.current = None;
                }
                UpstreamStep::ResultEnd
            }
            b'E' => {
                self.current = None;
                // In the extended protocol the upstream skips every message up to Sync after
                // an error; a simple query's ReadyForQuery still comes.
                while let Some(e) = self.expected.front() {
                    if matches!(e, Expect::Sync | Expect::Query) {
                        break;
                    }
                    self.expected.pop_front();
                }
                UpstreamStep::ResultEnd
            }
            b'Z' => {
                self.current = None;
                // Everything before the Sync (or Query) this answers is settled.
                while let Some(e) = self.expected.pop_front() {
                    if matches!(e, Expect::Sync | Expect::Query) {
                        break;
                    }
                }
                UpstreamStep::Relay
            }
            _ => UpstreamStep::Relay,
        }
    }

    fn pop_if(&mut self, wanted: impl Fn(&Expect) -> bool) -> bool {
        if self.expected.front().is_some_and(wanted) {
            self.expected.pop_front();
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, type_oid: u32, format: i16) -> FieldDescription {
        FieldDescription {
            name: name.into(),
            table_oid: 0,
            column: 0,
            type_oid,
            type_size: -1,
            type_modifier: -1,
            format,
        }
    }

    fn fields(list: &[(&str, u32, i16)]) -> Fields {
        list.iter().map(|(n, t, f)| field(n, *t, *f)).collect()
    }

    fn parse(name: &str) -> FrontendMessage {
        FrontendMessage::Parse {
            statement: name.into(),
            sql: "select $1".into(),
            param_types: vec![],
        }
    }

    fn bind(portal: &str, statement: &str, result_formats: Vec<i16>) -> FrontendMessage {
        FrontendMessage::Bind {
            portal: portal.into(),
            statement: statement.into(),
            param_formats: vec![],
            params: vec![],
            result_formats,
        }
    }

    fn describe(target: Target, name: &str) -> FrontendMessage {
        FrontendMessage::Describe {
            target,
            name: name.into(),
        }
    }

    fn execute(portal: &str) -> FrontendMessage {
        FrontendMessage::Execute {
            portal: portal.into(),
            max_rows: 0,
        }
    }

    fn row_columns(step: UpstreamStep) -> Option<(Vec<String>, Vec<Format>)> {
        match step {
            UpstreamStep::Row(RowSource::Portal(p)) => {
                let (fields, formats) = p.columns()?;
                Some((fields.iter().map(|f| f.name.clone()).collect(), formats))
            }
            other => panic!("not a portal row: {other:?}"),
        }
    }

    #[test]
    fn prepared_statement_described_then_bound_binary() {
        // tokio-postgres: Parse, Describe S, Sync; later Bind (binary results), Execute, Sync.
        let mut t = Tracker::default();
        for m in [
            parse("s1"),
            describe(Target::Statement, "s1"),
            FrontendMessage::Sync,
        ] {
            assert_eq!(t.client(&m), ClientStep::Forward);
        }
        t.upstream(b'1', None, None);
        t.upstream(b't', None, Some(vec![25]));
        let f = fields(&[("pan", 25, 0), ("id", 20, 0)]);
        assert!(matches!(
            t.upstream(b'T', Some(f), None),
            UpstreamStep::Described(_)
        ));
        t.upstream(b'Z', None, None);
        assert_eq!(t.statement("s1").unwrap().param_types(), [25]);

        for m in [bind("", "s1", vec![1]), execute(""), FrontendMessage::Sync] {
            assert_eq!(t.client(&m), ClientStep::Forward);
        }
        t.upstream(b'2', None, None);
        let (names, formats) = row_columns(t.upstream(b'D', None, None)).unwrap();
        assert_eq!(names, ["pan", "id"]);
        assert_eq!(formats, [Format::Binary, Format::Binary]);
        assert!(matches!(
            t.upstream(b'C', None, None),
            UpstreamStep::ResultEnd
        ));
        t.upstream(b'Z', None, None);
        assert!(t.expected.is_empty());
    }

    #[test]
    fn pipelined_parse_bind_describe_portal_execute() {
        // libpq's PQexecParams: Parse, Bind, Describe P, Execute, Sync in one write.
        let mut t = Tracker::default();
        for m in [
            parse(""),
            bind("", "", vec![0, 1]),
            describe(Target::Portal, ""),
            execute(""),
            FrontendMessage::Sync,
        ] {
            assert_eq!(t.client(&m), ClientStep::Forward);
        }
        t.upstream(b'1', None, None);
        t.upstream(b'2', None, None);
        let f = fields(&[("a", 25, 0), ("b", 20, 1)]);
        assert!(matches!(
            t.upstream(b'T', Some(f), None),
            UpstreamStep::Described(_)
        ));
        let (_, formats) = row_columns(t.upstream(b'D', None, None)).unwrap();
        assert_eq!(formats, [Format::Text, Format::Binary]);
    }

    #[test]
    fn an_undescribed_portal_gets_a_describe_injected_and_its_answer_swallowed() {
        let mut t = Tracker::default();
        t.client(&parse(""));
        t.client(&bind("", "", vec![1]));
        assert_eq!(t.client(&execute("")), ClientStep::DescribeFirst("".into()));
        t.client(&FrontendMessage::Sync);
        t.upstream(b'1', None, None);
        t.upstream(b'2', None, None);
        let f = fields(&[("pan", 25, 1)]);
        assert!(matches!(
            t.upstream(b'T', Some(f), None),
            UpstreamStep::Swallow
        ));
        let (names, formats) = row_columns(t.upstream(b'D', None, None)).unwrap();
        assert_eq!(
            (names, formats),
            (vec!["pan".to_owned()], vec![Format::Binary])
        );
        // A second Execute of the same portal needs no second Describe.
        assert_eq!(t.client(&execute("")), ClientStep::Forward);
    }

    #[test]
    fn an_injected_describe_answered_with_no_data_is_swallowed_too() {
        let mut t = Tracker::default();
        t.client(&parse(""));
        t.client(&bind("", "", vec![]));
        assert!(matches!(
            t.client(&execute("")),
            ClientStep::DescribeFirst(_)
        ));
        t.upstream(b'1', None, None);
        t.upstream(b'2', None, None);
        assert!(matches!(
            t.upstream(b'n', None, None),
            UpstreamStep::Swallow
        ));
        assert!(matches!(
            t.upstream(b'C', None, None),
            UpstreamStep::ResultEnd
        ));
    }

    #[test]
    fn simple_query_results_use_their_own_row_description() {
        let mut t = Tracker::default();
        t.client(&FrontendMessage::Query {
            sql: "select 1; select 2".into(),
        });
        let f = fields(&[("x", 25, 0)]);
        assert!(matches!(
            t.upstream(b'T', Some(f), None),
            UpstreamStep::Describes(_)
        ));
        t.set_current_plan(Arc::new(RowPlan::default()));
        assert!(matches!(
            t.upstream(b'D', None, None),
            UpstreamStep::Row(RowSource::Current(_))
        ));
        t.upstream(b'C', None, None);
        // Rows with no RowDescription in between are of unknown shape, still masked.
        assert!(matches!(
            t.upstream(b'D', None, None),
            UpstreamStep::Row(RowSource::Unknown(None))
        ));
        t.upstream(b'Z', None, None);
        assert!(t.expected.is_empty());
    }

    #[test]
    fn an_error_skips_the_rest_of_the_pipeline_up_to_sync() {
        let mut t = Tracker::default();
        for m in [
            parse("bad"),
            bind("p", "bad", vec![]),
            describe(Target::Portal, "p"),
            execute("p"),
            FrontendMessage::Sync,
            FrontendMessage::Query {
                sql: "select 1".into(),
            },
        ] {
            t.client(&m);
        }
        assert!(matches!(
            t.upstream(b'E', None, None),
            UpstreamStep::ResultEnd
        ));
        assert!(matches!(t.expected.front(), Some(Expect::Sync)));
        t.upstream(b'Z', None, None);
        assert!(matches!(t.expected.front(), Some(Expect::Query)));
        let f = fields(&[("x", 25, 0)]);
        assert!(matches!(
            t.upstream(b'T', Some(f), None),
            UpstreamStep::Describes(_)
        ));
    }

    #[test]
    fn the_completions_of_an_injected_denial_are_swallowed_and_its_error_relayed() {
        let mut t = Tracker::default();
        // The client's Parse was denied: the gateway sent its own Parse/Bind/Execute instead.
        t.injected();
        t.client(&bind("", "denied", vec![]));
        t.client(&execute(""));
        t.client(&FrontendMessage::Sync);
        assert!(matches!(
            t.upstream(b'1', None, None),
            UpstreamStep::Swallow
        ));
        assert!(matches!(
            t.upstream(b'2', None, None),
            UpstreamStep::Swallow
        ));
        assert!(matches!(
            t.upstream(b'E', None, None),
            UpstreamStep::ResultEnd
        ));
        assert!(matches!(t.upstream(b'Z', None, None), UpstreamStep::Relay));
        assert!(t.expected.is_empty());
    }

    #[test]
    fn a_private_statement_parsed_and_closed_around_the_clients_bind_is_invisible() {
        let mut t = Tracker::default();
        // The client's Bind of an approved statement: the gateway's Parse, the Bind renamed,
        // the gateway's Close; then the client's Execute and Sync, and a Close after the Sync.
        t.injected_parse();
        t.client(&bind("", "s1", vec![]));
        t.injected_close();
        t.client(&describe(Target::Portal, ""));
        t.client(&execute(""));
        t.client(&FrontendMessage::Sync);
        t.injected_close();
        assert!(matches!(
            t.upstream(b'1', None, None),
            UpstreamStep::Swallow
        ));
        assert!(matches!(t.upstream(b'2', None, None), UpstreamStep::Relay));
        assert!(matches!(
            t.upstream(b'3', None, None),
            UpstreamStep::Swallow
        ));
        t.upstream(b'n', None, None);
        t.upstream(b'C', None, None);
        assert!(matches!(t.upstream(b'Z', None, None), UpstreamStep::Relay));
        assert!(matches!(
            t.upstream(b'3', None, None),
            UpstreamStep::Swallow
        ));
        assert!(t.expected.is_empty());
        // The client's own Close is the client's.
        t.client(&FrontendMessage::Close {
            target: Target::Statement,
            name: "s1".into(),
        });
        assert!(matches!(t.upstream(b'3', None, None), UpstreamStep::Relay));
    }

    #[test]
    fn a_reparsed_statement_leaves_bound_portals_their_own_shape() {
        let mut t = Tracker::default();
        t.client(&parse("s"));
        t.client(&describe(Target::Statement, "s"));
        t.upstream(b'1', None, None);
        t.upstream(b'T', Some(fields(&[("old", 25, 0)])), None);
        t.client(&bind("p", "s", vec![]));
        t.upstream(b'2', None, None);
        t.client(&FrontendMessage::Close {
            target: Target::Statement,
            name: "s".into(),
        });
        t.client(&parse("s"));
        t.upstream(b'3', None, None);
        t.upstream(b'1', None, None);
        t.client(&execute("p"));
        let (names, _) = row_columns(t.upstream(b'D', None, None)).unwrap();
        assert_eq!(names, ["old"]);
    }
}
