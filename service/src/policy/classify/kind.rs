//! Statement kinds: the names policy files use, and which parse-tree node is which kind.

use pg_query::NodeRef;
use pg_query::protobuf as pb;

/// What a statement is, at the granularity policy rules are written in. The order is the
/// declaration order (used to sort [`super::Statement::inner_kinds`]).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    Select,
    Insert,
    Update,
    Delete,
    Merge,
    Copy,
    CreateTable,
    CreateIndex,
    CreateView,
    CreateSchema,
    CreateSequence,
    CreateExtension,
    CreateType,
    CreateTrigger,
    CreateOther,
    Alter,
    Drop,
    Truncate,
    Grant,
    Revoke,
    CreateRole,
    AlterRole,
    DropRole,
    SetRole,
    ResetRole,
    SetSessionAuthorization,
    Set,
    Reset,
    Show,
    Do,
    CreateFunction,
    CreateProcedure,
    Call,
    Prepare,
    Execute,
    Deallocate,
    Transaction,
    AlterSystem,
    Explain,
    Vacuum,
    Analyze,
    Listen,
    Notify,
    Unlisten,
    Lock,
    Comment,
    Discard,
    DeclareCursor,
    Fetch,
    /// `ALTER ... RENAME` (not of a role): an `alter`, named on its own so a protected table
    /// cannot be renamed out of its protection.
    Rename,
    /// `ALTER ... OWNER TO`, `REASSIGN OWNED`: an `alter`.
    AlterOwner,
    /// `ALTER ... SET SCHEMA`: an `alter`.
    SetSchema,
    /// `CREATE RULE`: a `create_other`.
    CreateRule,
    /// `CREATE POLICY`, `ALTER POLICY` (row-level security): a `create_other`.
    CreatePolicy,
    /// Foreign data wrappers, servers, user mappings, foreign tables, `IMPORT FOREIGN SCHEMA`
    /// (create, alter or drop): the way `postgres_fdw` reaches other servers.
    ForeignData,
    /// `DROP OWNED`: a `drop` of everything a role owns.
    DropOwned,
    /// `PREPARE TRANSACTION`, `COMMIT PREPARED`, `ROLLBACK PREPARED`: not a `transaction`, since
    /// a prepared transaction outlives its session and keeps its locks.
    PreparedTransaction,
    /// `CLOSE` of a cursor.
    CloseCursor,
    Other,
}

use StatementKind as K;

impl StatementKind {
    /// Every kind with its policy-file name, in declaration order.
    pub const ALL: [(StatementKind, &'static str); 59] = [
        (K::Select, "select"),
        (K::Insert, "insert"),
        (K::Update, "update"),
        (K::Delete, "delete"),
        (K::Merge, "merge"),
        (K::Copy, "copy"),
        (K::CreateTable, "create_table"),
        (K::CreateIndex, "create_index"),
        (K::CreateView, "create_view"),
        (K::CreateSchema, "create_schema"),
        (K::CreateSequence, "create_sequence"),
        (K::CreateExtension, "create_extension"),
        (K::CreateType, "create_type"),
        (K::CreateTrigger, "create_trigger"),
        (K::CreateOther, "create_other"),
        (K::Alter, "alter"),
        (K::Drop, "drop"),
        (K::Truncate, "truncate"),
        (K::Grant, "grant"),
        (K::Revoke, "revoke"),
        (K::CreateRole, "create_role"),
        (K::AlterRole, "alter_role"),
        (K::DropRole, "drop_role"),
        (K::SetRole, "set_role"),
        (K::ResetRole, "reset_role"),
        (K::SetSessionAuthorization, "set_session_authorization"),
        (K::Set, "set"),
        (K::Reset, "reset"),
        (K::Show, "show"),
        (K::Do, "do"),
        (K::CreateFunction, "create_function"),
        (K::CreateProcedure, "create_procedure"),
        (K::Call, "call"),
        (K::Prepare, "prepare"),
        (K::Execute, "execute"),
        (K::Deallocate, "deallocate"),
        (K::Transaction, "transaction"),
        (K::AlterSystem, "alter_system"),
        (K::Explain, "explain"),
        (K::Vacuum, "vacuum"),
        (K::Analyze, "analyze"),
        (K::Listen, "listen"),
        (K::Notify, "notify"),
        (K::Unlisten, "unlisten"),
        (K::Lock, "lock"),
        (K::Comment, "comment"),
        (K::Discard, "discard"),
        (K::DeclareCursor, "declare_cursor"),
        (K::Fetch, "fetch"),
        (K::Rename, "rename"),
        (K::AlterOwner, "alter_owner"),
        (K::SetSchema, "set_schema"),
        (K::CreateRule, "create_rule"),
        (K::CreatePolicy, "create_policy"),
        (K::ForeignData, "foreign_data"),
        (K::DropOwned, "drop_owned"),
        (K::PreparedTransaction, "prepared_transaction"),
        (K::CloseCursor, "close_cursor"),
        (K::Other, "other"),
    ];

    /// The broader kind this one is a case of (`rename` is an `alter`), so a rule written for
    /// `alter` keeps matching renames; itself for the others.
    pub fn family(self) -> StatementKind {
        match self {
            K::Rename | K::AlterOwner | K::SetSchema => K::Alter,
            K::CreateRule | K::CreatePolicy => K::CreateOther,
            K::DropOwned => K::Drop,
            other => other,
        }
    }

    /// The snake_case name, as used in policy files (and by serde).
    pub fn as_str(self) -> &'static str {
        // ALL is in declaration order, so the discriminant is the index.
        Self::ALL[self as usize].1
    }

    /// The kind a policy file names, exactly as [`as_str`](Self::as_str) spells it.
    pub fn from_name(name: &str) -> Option<StatementKind> {
        Self::ALL
            .iter()
            .find(|(_, known)| *known == name)
            .map(|(kind, _)| *kind)
    }
}

impl std::fmt::Display for StatementKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a statement node; `None` for nodes that are not statements (expressions,
/// clauses) and for the parts of a procedural body that are not statements on their own
/// (`RETURN` in a SQL-standard body, PL/pgSQL assignments).
///
/// Every `*Stmt` node pg_query 18.1 defines is listed here; a new one in a later version
/// falls into `_` and is not seen as a statement until it is added (the generated child walk
/// in `children.rs` does not compile against a new version until it is reviewed, which is
/// the prompt to review this table too).
pub(super) fn of(node: NodeRef<'_>) -> Option<StatementKind> {
    Some(match node {
        NodeRef::SelectStmt(_) => K::Select,
        NodeRef::InsertStmt(_) => K::Insert,
        NodeRef::UpdateStmt(_) => K::Update,
        NodeRef::DeleteStmt(_) => K::Delete,
        NodeRef::MergeStmt(_) => K::Merge,
        NodeRef::CopyStmt(_) => K::Copy,

        NodeRef::CreateForeignTableStmt(_)
        | NodeRef::CreateFdwStmt(_)
        | NodeRef::AlterFdwStmt(_)
        | NodeRef::CreateForeignServerStmt(_)
        | NodeRef::AlterForeignServerStmt(_)
        | NodeRef::CreateUserMappingStmt(_)
        | NodeRef::AlterUserMappingStmt(_)
        | NodeRef::DropUserMappingStmt(_)
        | NodeRef::ImportForeignSchemaStmt(_) => K::ForeignData,
        NodeRef::DropStmt(s)
            if matches!(
                pb::ObjectType::try_from(s.remove_type),
                Ok(pb::ObjectType::ObjectFdw
                    | pb::ObjectType::ObjectForeignServer
                    | pb::ObjectType::ObjectForeignTable)
            ) =>
        {
            K::ForeignData
        }
        NodeRef::RuleStmt(_) => K::CreateRule,
        NodeRef::CreatePolicyStmt(_) | NodeRef::AlterPolicyStmt(_) => K::CreatePolicy,
        NodeRef::RenameStmt(s) if !is_role(s.rename_type) => K::Rename,
        NodeRef::AlterOwnerStmt(_) | NodeRef::ReassignOwnedStmt(_) => K::AlterOwner,
        NodeRef::AlterObjectSchemaStmt(_) => K::SetSchema,
        NodeRef::DropOwnedStmt(_) => K::DropOwned,
        NodeRef::CreateStmt(_) => K::CreateTable,
        NodeRef::CreateTableAsStmt(s) => match pb::ObjectType::try_from(s.objtype) {
            Ok(pb::ObjectType::ObjectMatview) => K::CreateView,
            _ => K::CreateTable,
        },
        NodeRef::IndexStmt(_) => K::CreateIndex,
        NodeRef::ViewStmt(_) => K::CreateView,
        NodeRef::CreateSchemaStmt(_) => K::CreateSchema,
        NodeRef::CreateSeqStmt(_) => K::CreateSequence,
        NodeRef::CreateExtensionStmt(_) => K::CreateExtension,
        NodeRef::CompositeTypeStmt(_)
        | NodeRef::CreateEnumStmt(_)
        | NodeRef::CreateRangeStmt(_)
        | NodeRef::CreateDomainStmt(_) => K::CreateType,
        NodeRef::DefineStmt(s) => match pb::ObjectType::try_from(s.kind) {
            Ok(pb::ObjectType::ObjectType) => K::CreateType,
            _ => K::CreateOther,
        },
        NodeRef::CreateTrigStmt(_) | NodeRef::CreateEventTrigStmt(_) => K::CreateTrigger,
        NodeRef::CreateFunctionStmt(s) if s.is_procedure => K::CreateProcedure,
        NodeRef::CreateFunctionStmt(_) => K::CreateFunction,
        NodeRef::CreatedbStmt(_)
        | NodeRef::CreateTableSpaceStmt(_)
        | NodeRef::CreatePlangStmt(_)
        | NodeRef::CreateConversionStmt(_)
        | NodeRef::CreateCastStmt(_)
        | NodeRef::CreateOpClassStmt(_)
        | NodeRef::CreateOpFamilyStmt(_)
        | NodeRef::CreateTransformStmt(_)
        | NodeRef::CreateAmStmt(_)
        | NodeRef::CreatePublicationStmt(_)
        | NodeRef::CreateSubscriptionStmt(_)
        | NodeRef::CreateStatsStmt(_) => K::CreateOther,

        NodeRef::RenameStmt(s) if is_role(s.rename_type) => K::AlterRole,
        NodeRef::AlterTableStmt(_)
        | NodeRef::AlterDomainStmt(_)
        | NodeRef::AlterDefaultPrivilegesStmt(_)
        | NodeRef::AlterFunctionStmt(_)
        | NodeRef::AlterSeqStmt(_)
        | NodeRef::AlterDatabaseStmt(_)
        | NodeRef::AlterDatabaseSetStmt(_)
        | NodeRef::AlterDatabaseRefreshCollStmt(_)
        | NodeRef::AlterOpFamilyStmt(_)
        | NodeRef::AlterObjectDependsStmt(_)
        | NodeRef::AlterOperatorStmt(_)
        | NodeRef::AlterTypeStmt(_)
        | NodeRef::AlterEnumStmt(_)
        | NodeRef::AlterTsdictionaryStmt(_)
        | NodeRef::AlterTsconfigurationStmt(_)
        | NodeRef::AlterTableSpaceOptionsStmt(_)
        | NodeRef::AlterTableMoveAllStmt(_)
        | NodeRef::AlterExtensionStmt(_)
        | NodeRef::AlterExtensionContentsStmt(_)
        | NodeRef::AlterEventTrigStmt(_)
        | NodeRef::AlterPublicationStmt(_)
        | NodeRef::AlterSubscriptionStmt(_)
        | NodeRef::AlterCollationStmt(_)
        | NodeRef::AlterStatsStmt(_)
        | NodeRef::ReplicaIdentityStmt(_) => K::Alter,

        NodeRef::DropStmt(_)
        | NodeRef::DropdbStmt(_)
        | NodeRef::DropTableSpaceStmt(_)
        | NodeRef::DropSubscriptionStmt(_) => K::Drop,
        NodeRef::TruncateStmt(_) => K::Truncate,

        NodeRef::GrantStmt(s) if s.is_grant => K::Grant,
        NodeRef::GrantStmt(_) => K::Revoke,
        NodeRef::GrantRoleStmt(s) if s.is_grant => K::Grant,
        NodeRef::GrantRoleStmt(_) => K::Revoke,
        NodeRef::CreateRoleStmt(_) => K::CreateRole,
        NodeRef::AlterRoleStmt(_) | NodeRef::AlterRoleSetStmt(_) => K::AlterRole,
        NodeRef::DropRoleStmt(_) => K::DropRole,

        NodeRef::VariableSetStmt(s) => set_kind(s),
        NodeRef::ConstraintsSetStmt(_) => K::Set,
        NodeRef::VariableShowStmt(_) => K::Show,
        NodeRef::AlterSystemStmt(_) => K::AlterSystem,

        NodeRef::DoStmt(_) => K::Do,
        NodeRef::CallStmt(_) => K::Call,
        NodeRef::PrepareStmt(_) => K::Prepare,
        NodeRef::ExecuteStmt(_) => K::Execute,
        NodeRef::DeallocateStmt(_) => K::Deallocate,
        NodeRef::TransactionStmt(t) => match pb::TransactionStmtKind::try_from(t.kind) {
            Ok(
                pb::TransactionStmtKind::TransStmtPrepare
                | pb::TransactionStmtKind::TransStmtCommitPrepared
                | pb::TransactionStmtKind::TransStmtRollbackPrepared,
            ) => K::PreparedTransaction,
            Ok(_) => K::Transaction,
            // An unknown transaction statement: not one a rule may take for a plain one.
            Err(_) => K::Other,
        },
        NodeRef::ExplainStmt(_) => K::Explain,
        NodeRef::VacuumStmt(s) if s.is_vacuumcmd => K::Vacuum,
        NodeRef::VacuumStmt(_) => K::Analyze,
        NodeRef::ListenStmt(_) => K::Listen,
        NodeRef::NotifyStmt(_) => K::Notify,
        NodeRef::UnlistenStmt(_) => K::Unlisten,
        NodeRef::LockStmt(_) => K::Lock,
        NodeRef::CommentStmt(_) => K::Comment,
        NodeRef::DiscardStmt(_) => K::Discard,
        NodeRef::DeclareCursorStmt(_) => K::DeclareCursor,
        NodeRef::FetchStmt(_) => K::Fetch,

        NodeRef::ClosePortalStmt(_) => K::CloseCursor,
        NodeRef::CheckPointStmt(_)
        | NodeRef::LoadStmt(_)
        | NodeRef::ClusterStmt(_)
        | NodeRef::ReindexStmt(_)
        | NodeRef::RefreshMatViewStmt(_)
        | NodeRef::SecLabelStmt(_)
        | NodeRef::SetOperationStmt(_) => K::Other,

        _ => return None,
    })
}

fn is_role(object_type: i32) -> bool {
    pb::ObjectType::try_from(object_type) == Ok(pb::ObjectType::ObjectRole)
}

/// SET, RESET and their role forms. Postgres compares parameter names case-insensitively, so
/// `SET "ROLE" TO admin` is a SET ROLE too; `SET LOCAL ROLE`, `SET role = …` and
/// `SET ROLE NONE` are SET ROLE; `RESET SESSION AUTHORIZATION` and
/// `SET SESSION AUTHORIZATION DEFAULT` are both [`StatementKind::SetSessionAuthorization`].
fn set_kind(s: &pb::VariableSetStmt) -> StatementKind {
    let reset = matches!(
        pb::VariableSetKind::try_from(s.kind),
        Ok(pb::VariableSetKind::VarReset | pb::VariableSetKind::VarResetAll)
    );
    if s.name.eq_ignore_ascii_case("role") {
        if reset { K::ResetRole } else { K::SetRole }
    } else if s.name.eq_ignore_ascii_case("session_authorization") {
        K::SetSessionAuthorization
    } else if reset {
        K::Reset
    } else {
        K::Set
    }
}
