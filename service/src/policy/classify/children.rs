//! The children of every parse-tree node: what makes the walk reach *every* node.
//!
//! Generated from pg_query 18.1.0's `src/protobuf.rs` (every `Node` variant, every field),
//! then formatted with rustfmt; kept by hand since. Every struct is destructured without `..`,
//! so a pg_query upgrade that adds a node type or a field fails to compile here until it is
//! listed: a field holding a `Node` (or a message that is itself a node, like `RangeVar`) is a
//! child, anything else is `_`. A new statement node also needs its kind in `kind.rs`.

use pg_query::NodeRef;
use pg_query::protobuf as pb;

/// Calls `visit` with every direct child of `parent`: each field that holds a node, in field
/// order. Scalars (names, flags, enum codes, locations) are not children.
pub(super) fn for_each_child<'a>(parent: NodeRef<'a>, visit: &mut impl FnMut(NodeRef<'a>)) {
    match parent {
        NodeRef::Alias(n) => {
            let pb::Alias {
                aliasname: _,
                colnames,
            } = n;
            visit_all(colnames, visit);
        }
        NodeRef::RangeVar(n) => {
            let pb::RangeVar {
                catalogname: _,
                schemaname: _,
                relname: _,
                inh: _,
                relpersistence: _,
                alias,
                location: _,
            } = n;
            if let Some(child) = alias {
                visit(NodeRef::Alias(child));
            }
        }
        NodeRef::TableFunc(n) => {
            let pb::TableFunc {
                functype: _,
                ns_uris,
                ns_names,
                docexpr,
                rowexpr,
                colnames,
                coltypes,
                coltypmods,
                colcollations,
                colexprs,
                coldefexprs,
                colvalexprs,
                passingvalexprs,
                notnulls: _,
                plan,
                ordinalitycol: _,
                location: _,
            } = n;
            visit_all(ns_uris, visit);
            visit_all(ns_names, visit);
            visit_one(docexpr, visit);
            visit_one(rowexpr, visit);
            visit_all(colnames, visit);
            visit_all(coltypes, visit);
            visit_all(coltypmods, visit);
            visit_all(colcollations, visit);
            visit_all(colexprs, visit);
            visit_all(coldefexprs, visit);
            visit_all(colvalexprs, visit);
            visit_all(passingvalexprs, visit);
            visit_one(plan, visit);
        }
        NodeRef::Var(n) => {
            let pb::Var {
                xpr,
                varno: _,
                varattno: _,
                vartype: _,
                vartypmod: _,
                varcollid: _,
                varnullingrels: _,
                varlevelsup: _,
                varreturningtype: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
        }
        NodeRef::Param(n) => {
            let pb::Param {
                xpr,
                paramkind: _,
                paramid: _,
                paramtype: _,
                paramtypmod: _,
                paramcollid: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
        }
        NodeRef::Aggref(n) => {
            let pb::Aggref {
                xpr,
                aggfnoid: _,
                aggtype: _,
                aggcollid: _,
                inputcollid: _,
                aggargtypes,
                aggdirectargs,
                args,
                aggorder,
                aggdistinct,
                aggfilter,
                aggstar: _,
                aggvariadic: _,
                aggkind: _,
                agglevelsup: _,
                aggsplit: _,
                aggno: _,
                aggtransno: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_all(aggargtypes, visit);
            visit_all(aggdirectargs, visit);
            visit_all(args, visit);
            visit_all(aggorder, visit);
            visit_all(aggdistinct, visit);
            visit_one(aggfilter, visit);
        }
        NodeRef::GroupingFunc(n) => {
            let pb::GroupingFunc {
                xpr,
                args,
                refs,
                agglevelsup: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_all(args, visit);
            visit_all(refs, visit);
        }
        NodeRef::WindowFunc(n) => {
            let pb::WindowFunc {
                xpr,
                winfnoid: _,
                wintype: _,
                wincollid: _,
                inputcollid: _,
                args,
                aggfilter,
                run_condition,
                winref: _,
                winstar: _,
                winagg: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_all(args, visit);
            visit_one(aggfilter, visit);
            visit_all(run_condition, visit);
        }
        NodeRef::SubscriptingRef(n) => {
            let pb::SubscriptingRef {
                xpr,
                refcontainertype: _,
                refelemtype: _,
                refrestype: _,
                reftypmod: _,
                refcollid: _,
                refupperindexpr,
                reflowerindexpr,
                refexpr,
                refassgnexpr,
            } = n;
            visit_one(xpr, visit);
            visit_all(refupperindexpr, visit);
            visit_all(reflowerindexpr, visit);
            visit_one(refexpr, visit);
            visit_one(refassgnexpr, visit);
        }
        NodeRef::FuncExpr(n) => {
            let pb::FuncExpr {
                xpr,
                funcid: _,
                funcresulttype: _,
                funcretset: _,
                funcvariadic: _,
                funcformat: _,
                funccollid: _,
                inputcollid: _,
                args,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_all(args, visit);
        }
        NodeRef::NamedArgExpr(n) => {
            let pb::NamedArgExpr {
                xpr,
                arg,
                name: _,
                argnumber: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(arg, visit);
        }
        NodeRef::OpExpr(n) => {
            let pb::OpExpr {
                xpr,
                opno: _,
                opresulttype: _,
                opretset: _,
                opcollid: _,
                inputcollid: _,
                args,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_all(args, visit);
        }
        NodeRef::DistinctExpr(n) => {
            let pb::DistinctExpr {
                xpr,
                opno: _,
                opresulttype: _,
                opretset: _,
                opcollid: _,
                inputcollid: _,
                args,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_all(args, visit);
        }
        NodeRef::NullIfExpr(n) => {
            let pb::NullIfExpr {
                xpr,
                opno: _,
                opresulttype: _,
                opretset: _,
                opcollid: _,
                inputcollid: _,
                args,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_all(args, visit);
        }
        NodeRef::ScalarArrayOpExpr(n) => {
            let pb::ScalarArrayOpExpr {
                xpr,
                opno: _,
                use_or: _,
                inputcollid: _,
                args,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_all(args, visit);
        }
        NodeRef::BoolExpr(n) => {
            let pb::BoolExpr {
                xpr,
                boolop: _,
                args,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_all(args, visit);
        }
        NodeRef::SubLink(n) => {
            let pb::SubLink {
                xpr,
                sub_link_type: _,
                sub_link_id: _,
                testexpr,
                oper_name,
                subselect,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(testexpr, visit);
            visit_all(oper_name, visit);
            visit_one(subselect, visit);
        }
        NodeRef::SubPlan(n) => {
            let pb::SubPlan {
                xpr,
                sub_link_type: _,
                testexpr,
                param_ids,
                plan_id: _,
                plan_name: _,
                first_col_type: _,
                first_col_typmod: _,
                first_col_collation: _,
                use_hash_table: _,
                unknown_eq_false: _,
                parallel_safe: _,
                set_param,
                par_param,
                args,
                startup_cost: _,
                per_call_cost: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(testexpr, visit);
            visit_all(param_ids, visit);
            visit_all(set_param, visit);
            visit_all(par_param, visit);
            visit_all(args, visit);
        }
        NodeRef::AlternativeSubPlan(n) => {
            let pb::AlternativeSubPlan { xpr, subplans } = n;
            visit_one(xpr, visit);
            visit_all(subplans, visit);
        }
        NodeRef::FieldSelect(n) => {
            let pb::FieldSelect {
                xpr,
                arg,
                fieldnum: _,
                resulttype: _,
                resulttypmod: _,
                resultcollid: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(arg, visit);
        }
        NodeRef::FieldStore(n) => {
            let pb::FieldStore {
                xpr,
                arg,
                newvals,
                fieldnums,
                resulttype: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(arg, visit);
            visit_all(newvals, visit);
            visit_all(fieldnums, visit);
        }
        NodeRef::RelabelType(n) => {
            let pb::RelabelType {
                xpr,
                arg,
                resulttype: _,
                resulttypmod: _,
                resultcollid: _,
                relabelformat: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(arg, visit);
        }
        NodeRef::CoerceViaIo(n) => {
            let pb::CoerceViaIo {
                xpr,
                arg,
                resulttype: _,
                resultcollid: _,
                coerceformat: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(arg, visit);
        }
        NodeRef::ArrayCoerceExpr(n) => {
            let pb::ArrayCoerceExpr {
                xpr,
                arg,
                elemexpr,
                resulttype: _,
                resulttypmod: _,
                resultcollid: _,
                coerceformat: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(arg, visit);
            visit_one(elemexpr, visit);
        }
        NodeRef::ConvertRowtypeExpr(n) => {
            let pb::ConvertRowtypeExpr {
                xpr,
                arg,
                resulttype: _,
                convertformat: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(arg, visit);
        }
        NodeRef::CollateExpr(n) => {
            let pb::CollateExpr {
                xpr,
                arg,
                coll_oid: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(arg, visit);
        }
        NodeRef::CaseExpr(n) => {
            let pb::CaseExpr {
                xpr,
                casetype: _,
                casecollid: _,
                arg,
                args,
                defresult,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(arg, visit);
            visit_all(args, visit);
            visit_one(defresult, visit);
        }
        NodeRef::CaseWhen(n) => {
            let pb::CaseWhen {
                xpr,
                expr,
                result,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(expr, visit);
            visit_one(result, visit);
        }
        NodeRef::CaseTestExpr(n) => {
            let pb::CaseTestExpr {
                xpr,
                type_id: _,
                type_mod: _,
                collation: _,
            } = n;
            visit_one(xpr, visit);
        }
        NodeRef::ArrayExpr(n) => {
            let pb::ArrayExpr {
                xpr,
                array_typeid: _,
                array_collid: _,
                element_typeid: _,
                elements,
                multidims: _,
                list_start: _,
                list_end: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_all(elements, visit);
        }
        NodeRef::RowExpr(n) => {
            let pb::RowExpr {
                xpr,
                args,
                row_typeid: _,
                row_format: _,
                colnames,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_all(args, visit);
            visit_all(colnames, visit);
        }
        NodeRef::RowCompareExpr(n) => {
            let pb::RowCompareExpr {
                xpr,
                cmptype: _,
                opnos,
                opfamilies,
                inputcollids,
                largs,
                rargs,
            } = n;
            visit_one(xpr, visit);
            visit_all(opnos, visit);
            visit_all(opfamilies, visit);
            visit_all(inputcollids, visit);
            visit_all(largs, visit);
            visit_all(rargs, visit);
        }
        NodeRef::CoalesceExpr(n) => {
            let pb::CoalesceExpr {
                xpr,
                coalescetype: _,
                coalescecollid: _,
                args,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_all(args, visit);
        }
        NodeRef::MinMaxExpr(n) => {
            let pb::MinMaxExpr {
                xpr,
                minmaxtype: _,
                minmaxcollid: _,
                inputcollid: _,
                op: _,
                args,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_all(args, visit);
        }
        NodeRef::SqlvalueFunction(n) => {
            let pb::SqlValueFunction {
                xpr,
                op: _,
                r#type: _,
                typmod: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
        }
        NodeRef::XmlExpr(n) => {
            let pb::XmlExpr {
                xpr,
                op: _,
                name: _,
                named_args,
                arg_names,
                args,
                xmloption: _,
                indent: _,
                r#type: _,
                typmod: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_all(named_args, visit);
            visit_all(arg_names, visit);
            visit_all(args, visit);
        }
        NodeRef::NullTest(n) => {
            let pb::NullTest {
                xpr,
                arg,
                nulltesttype: _,
                argisrow: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(arg, visit);
        }
        NodeRef::BooleanTest(n) => {
            let pb::BooleanTest {
                xpr,
                arg,
                booltesttype: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(arg, visit);
        }
        NodeRef::CoerceToDomain(n) => {
            let pb::CoerceToDomain {
                xpr,
                arg,
                resulttype: _,
                resulttypmod: _,
                resultcollid: _,
                coercionformat: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(arg, visit);
        }
        NodeRef::CoerceToDomainValue(n) => {
            let pb::CoerceToDomainValue {
                xpr,
                type_id: _,
                type_mod: _,
                collation: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
        }
        NodeRef::SetToDefault(n) => {
            let pb::SetToDefault {
                xpr,
                type_id: _,
                type_mod: _,
                collation: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
        }
        NodeRef::CurrentOfExpr(n) => {
            let pb::CurrentOfExpr {
                xpr,
                cvarno: _,
                cursor_name: _,
                cursor_param: _,
            } = n;
            visit_one(xpr, visit);
        }
        NodeRef::NextValueExpr(n) => {
            let pb::NextValueExpr {
                xpr,
                seqid: _,
                type_id: _,
            } = n;
            visit_one(xpr, visit);
        }
        NodeRef::InferenceElem(n) => {
            let pb::InferenceElem {
                xpr,
                expr,
                infercollid: _,
                inferopclass: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(expr, visit);
        }
        NodeRef::TargetEntry(n) => {
            let pb::TargetEntry {
                xpr,
                expr,
                resno: _,
                resname: _,
                ressortgroupref: _,
                resorigtbl: _,
                resorigcol: _,
                resjunk: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(expr, visit);
        }
        NodeRef::RangeTblRef(n) => {
            let pb::RangeTblRef { rtindex: _ } = n;
        }
        NodeRef::JoinExpr(n) => {
            let pb::JoinExpr {
                jointype: _,
                is_natural: _,
                larg,
                rarg,
                using_clause,
                join_using_alias,
                quals,
                alias,
                rtindex: _,
            } = n;
            visit_one(larg, visit);
            visit_one(rarg, visit);
            visit_all(using_clause, visit);
            if let Some(child) = join_using_alias {
                visit(NodeRef::Alias(child));
            }
            visit_one(quals, visit);
            if let Some(child) = alias {
                visit(NodeRef::Alias(child));
            }
        }
        NodeRef::FromExpr(n) => {
            let pb::FromExpr { fromlist, quals } = n;
            visit_all(fromlist, visit);
            visit_one(quals, visit);
        }
        NodeRef::OnConflictExpr(n) => {
            let pb::OnConflictExpr {
                action: _,
                arbiter_elems,
                arbiter_where,
                constraint: _,
                on_conflict_set,
                on_conflict_where,
                excl_rel_index: _,
                excl_rel_tlist,
            } = n;
            visit_all(arbiter_elems, visit);
            visit_one(arbiter_where, visit);
            visit_all(on_conflict_set, visit);
            visit_one(on_conflict_where, visit);
            visit_all(excl_rel_tlist, visit);
        }
        NodeRef::IntoClause(n) => {
            let pb::IntoClause {
                rel,
                col_names,
                access_method: _,
                options,
                on_commit: _,
                table_space_name: _,
                view_query,
                skip_data: _,
            } = n;
            if let Some(child) = rel {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(col_names, visit);
            visit_all(options, visit);
            if let Some(child) = view_query {
                visit(NodeRef::Query(child));
            }
        }
        NodeRef::RawStmt(n) => {
            let pb::RawStmt {
                stmt,
                stmt_location: _,
                stmt_len: _,
            } = n;
            visit_one(stmt, visit);
        }
        NodeRef::Query(n) => {
            let pb::Query {
                command_type: _,
                query_source: _,
                can_set_tag: _,
                utility_stmt,
                result_relation: _,
                has_aggs: _,
                has_window_funcs: _,
                has_target_srfs: _,
                has_sub_links: _,
                has_distinct_on: _,
                has_recursive: _,
                has_modifying_cte: _,
                has_for_update: _,
                has_row_security: _,
                has_group_rte: _,
                is_return: _,
                cte_list,
                rtable,
                rteperminfos,
                jointree,
                merge_action_list,
                merge_target_relation: _,
                merge_join_condition,
                target_list,
                r#override: _,
                on_conflict,
                returning_old_alias: _,
                returning_new_alias: _,
                returning_list,
                group_clause,
                group_distinct: _,
                grouping_sets,
                having_qual,
                window_clause,
                distinct_clause,
                sort_clause,
                limit_offset,
                limit_count,
                limit_option: _,
                row_marks,
                set_operations,
                constraint_deps,
                with_check_options,
                stmt_location: _,
                stmt_len: _,
            } = n;
            visit_one(utility_stmt, visit);
            visit_all(cte_list, visit);
            visit_all(rtable, visit);
            visit_all(rteperminfos, visit);
            if let Some(child) = jointree {
                visit(NodeRef::FromExpr(child));
            }
            visit_all(merge_action_list, visit);
            visit_one(merge_join_condition, visit);
            visit_all(target_list, visit);
            if let Some(child) = on_conflict {
                visit(NodeRef::OnConflictExpr(child));
            }
            visit_all(returning_list, visit);
            visit_all(group_clause, visit);
            visit_all(grouping_sets, visit);
            visit_one(having_qual, visit);
            visit_all(window_clause, visit);
            visit_all(distinct_clause, visit);
            visit_all(sort_clause, visit);
            visit_one(limit_offset, visit);
            visit_one(limit_count, visit);
            visit_all(row_marks, visit);
            visit_one(set_operations, visit);
            visit_all(constraint_deps, visit);
            visit_all(with_check_options, visit);
        }
        NodeRef::InsertStmt(n) => {
            let pb::InsertStmt {
                relation,
                cols,
                select_stmt,
                on_conflict_clause,
                returning_clause,
                with_clause,
                r#override: _,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(cols, visit);
            visit_one(select_stmt, visit);
            if let Some(child) = on_conflict_clause {
                visit(NodeRef::OnConflictClause(child));
            }
            if let Some(child) = returning_clause {
                visit(NodeRef::ReturningClause(child));
            }
            if let Some(child) = with_clause {
                visit(NodeRef::WithClause(child));
            }
        }
        NodeRef::DeleteStmt(n) => {
            let pb::DeleteStmt {
                relation,
                using_clause,
                where_clause,
                returning_clause,
                with_clause,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(using_clause, visit);
            visit_one(where_clause, visit);
            if let Some(child) = returning_clause {
                visit(NodeRef::ReturningClause(child));
            }
            if let Some(child) = with_clause {
                visit(NodeRef::WithClause(child));
            }
        }
        NodeRef::UpdateStmt(n) => {
            let pb::UpdateStmt {
                relation,
                target_list,
                where_clause,
                from_clause,
                returning_clause,
                with_clause,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(target_list, visit);
            visit_one(where_clause, visit);
            visit_all(from_clause, visit);
            if let Some(child) = returning_clause {
                visit(NodeRef::ReturningClause(child));
            }
            if let Some(child) = with_clause {
                visit(NodeRef::WithClause(child));
            }
        }
        NodeRef::SelectStmt(n) => {
            let pb::SelectStmt {
                distinct_clause,
                into_clause,
                target_list,
                from_clause,
                where_clause,
                group_clause,
                group_distinct: _,
                having_clause,
                window_clause,
                values_lists,
                sort_clause,
                limit_offset,
                limit_count,
                limit_option: _,
                locking_clause,
                with_clause,
                op: _,
                all: _,
                larg,
                rarg,
            } = n;
            visit_all(distinct_clause, visit);
            if let Some(child) = into_clause {
                visit(NodeRef::IntoClause(child));
            }
            visit_all(target_list, visit);
            visit_all(from_clause, visit);
            visit_one(where_clause, visit);
            visit_all(group_clause, visit);
            visit_one(having_clause, visit);
            visit_all(window_clause, visit);
            visit_all(values_lists, visit);
            visit_all(sort_clause, visit);
            visit_one(limit_offset, visit);
            visit_one(limit_count, visit);
            visit_all(locking_clause, visit);
            if let Some(child) = with_clause {
                visit(NodeRef::WithClause(child));
            }
            if let Some(child) = larg {
                visit(NodeRef::SelectStmt(child));
            }
            if let Some(child) = rarg {
                visit(NodeRef::SelectStmt(child));
            }
        }
        NodeRef::AlterTableStmt(n) => {
            let pb::AlterTableStmt {
                relation,
                cmds,
                objtype: _,
                missing_ok: _,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(cmds, visit);
        }
        NodeRef::AlterTableCmd(n) => {
            let pb::AlterTableCmd {
                subtype: _,
                name: _,
                num: _,
                newowner,
                def,
                behavior: _,
                missing_ok: _,
                recurse: _,
            } = n;
            if let Some(child) = newowner {
                visit(NodeRef::RoleSpec(child));
            }
            visit_one(def, visit);
        }
        NodeRef::AlterDomainStmt(n) => {
            let pb::AlterDomainStmt {
                subtype: _,
                type_name,
                name: _,
                def,
                behavior: _,
                missing_ok: _,
            } = n;
            visit_all(type_name, visit);
            visit_one(def, visit);
        }
        NodeRef::SetOperationStmt(n) => {
            let pb::SetOperationStmt {
                op: _,
                all: _,
                larg,
                rarg,
                col_types,
                col_typmods,
                col_collations,
                group_clauses,
            } = n;
            visit_one(larg, visit);
            visit_one(rarg, visit);
            visit_all(col_types, visit);
            visit_all(col_typmods, visit);
            visit_all(col_collations, visit);
            visit_all(group_clauses, visit);
        }
        NodeRef::GrantStmt(n) => {
            let pb::GrantStmt {
                is_grant: _,
                targtype: _,
                objtype: _,
                objects,
                privileges,
                grantees,
                grant_option: _,
                grantor,
                behavior: _,
            } = n;
            visit_all(objects, visit);
            visit_all(privileges, visit);
            visit_all(grantees, visit);
            if let Some(child) = grantor {
                visit(NodeRef::RoleSpec(child));
            }
        }
        NodeRef::GrantRoleStmt(n) => {
            let pb::GrantRoleStmt {
                granted_roles,
                grantee_roles,
                is_grant: _,
                opt,
                grantor,
                behavior: _,
            } = n;
            visit_all(granted_roles, visit);
            visit_all(grantee_roles, visit);
            visit_all(opt, visit);
            if let Some(child) = grantor {
                visit(NodeRef::RoleSpec(child));
            }
        }
        NodeRef::AlterDefaultPrivilegesStmt(n) => {
            let pb::AlterDefaultPrivilegesStmt { options, action } = n;
            visit_all(options, visit);
            if let Some(child) = action {
                visit(NodeRef::GrantStmt(child));
            }
        }
        NodeRef::ClosePortalStmt(n) => {
            let pb::ClosePortalStmt { portalname: _ } = n;
        }
        NodeRef::ClusterStmt(n) => {
            let pb::ClusterStmt {
                relation,
                indexname: _,
                params,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(params, visit);
        }
        NodeRef::CopyStmt(n) => {
            let pb::CopyStmt {
                relation,
                query,
                attlist,
                is_from: _,
                is_program: _,
                filename: _,
                options,
                where_clause,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_one(query, visit);
            visit_all(attlist, visit);
            visit_all(options, visit);
            visit_one(where_clause, visit);
        }
        NodeRef::CreateStmt(n) => {
            let pb::CreateStmt {
                relation,
                table_elts,
                inh_relations,
                partbound,
                partspec,
                of_typename,
                constraints,
                nnconstraints,
                options,
                oncommit: _,
                tablespacename: _,
                access_method: _,
                if_not_exists: _,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(table_elts, visit);
            visit_all(inh_relations, visit);
            if let Some(child) = partbound {
                visit(NodeRef::PartitionBoundSpec(child));
            }
            if let Some(child) = partspec {
                visit(NodeRef::PartitionSpec(child));
            }
            if let Some(child) = of_typename {
                visit(NodeRef::TypeName(child));
            }
            visit_all(constraints, visit);
            visit_all(nnconstraints, visit);
            visit_all(options, visit);
        }
        NodeRef::DefineStmt(n) => {
            let pb::DefineStmt {
                kind: _,
                oldstyle: _,
                defnames,
                args,
                definition,
                if_not_exists: _,
                replace: _,
            } = n;
            visit_all(defnames, visit);
            visit_all(args, visit);
            visit_all(definition, visit);
        }
        NodeRef::DropStmt(n) => {
            let pb::DropStmt {
                objects,
                remove_type: _,
                behavior: _,
                missing_ok: _,
                concurrent: _,
            } = n;
            visit_all(objects, visit);
        }
        NodeRef::TruncateStmt(n) => {
            let pb::TruncateStmt {
                relations,
                restart_seqs: _,
                behavior: _,
            } = n;
            visit_all(relations, visit);
        }
        NodeRef::CommentStmt(n) => {
            let pb::CommentStmt {
                objtype: _,
                object,
                comment: _,
            } = n;
            visit_one(object, visit);
        }
        NodeRef::FetchStmt(n) => {
            let pb::FetchStmt {
                direction: _,
                how_many: _,
                portalname: _,
                ismove: _,
            } = n;
        }
        NodeRef::IndexStmt(n) => {
            let pb::IndexStmt {
                idxname: _,
                relation,
                access_method: _,
                table_space: _,
                index_params,
                index_including_params,
                options,
                where_clause,
                exclude_op_names,
                idxcomment: _,
                index_oid: _,
                old_number: _,
                old_create_subid: _,
                old_first_relfilelocator_subid: _,
                unique: _,
                nulls_not_distinct: _,
                primary: _,
                isconstraint: _,
                iswithoutoverlaps: _,
                deferrable: _,
                initdeferred: _,
                transformed: _,
                concurrent: _,
                if_not_exists: _,
                reset_default_tblspc: _,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(index_params, visit);
            visit_all(index_including_params, visit);
            visit_all(options, visit);
            visit_one(where_clause, visit);
            visit_all(exclude_op_names, visit);
        }
        NodeRef::CreateFunctionStmt(n) => {
            let pb::CreateFunctionStmt {
                is_procedure: _,
                replace: _,
                funcname,
                parameters,
                return_type,
                options,
                sql_body,
            } = n;
            visit_all(funcname, visit);
            visit_all(parameters, visit);
            if let Some(child) = return_type {
                visit(NodeRef::TypeName(child));
            }
            visit_all(options, visit);
            visit_one(sql_body, visit);
        }
        NodeRef::AlterFunctionStmt(n) => {
            let pb::AlterFunctionStmt {
                objtype: _,
                func,
                actions,
            } = n;
            if let Some(child) = func {
                visit(NodeRef::ObjectWithArgs(child));
            }
            visit_all(actions, visit);
        }
        NodeRef::DoStmt(n) => {
            let pb::DoStmt { args } = n;
            visit_all(args, visit);
        }
        NodeRef::RenameStmt(n) => {
            let pb::RenameStmt {
                rename_type: _,
                relation_type: _,
                relation,
                object,
                subname: _,
                newname: _,
                behavior: _,
                missing_ok: _,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_one(object, visit);
        }
        NodeRef::RuleStmt(n) => {
            let pb::RuleStmt {
                relation,
                rulename: _,
                where_clause,
                event: _,
                instead: _,
                actions,
                replace: _,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_one(where_clause, visit);
            visit_all(actions, visit);
        }
        NodeRef::NotifyStmt(n) => {
            let pb::NotifyStmt {
                conditionname: _,
                payload: _,
                payload_location: _,
            } = n;
        }
        NodeRef::ListenStmt(n) => {
            let pb::ListenStmt { conditionname: _ } = n;
        }
        NodeRef::UnlistenStmt(n) => {
            let pb::UnlistenStmt { conditionname: _ } = n;
        }
        NodeRef::TransactionStmt(n) => {
            let pb::TransactionStmt {
                kind: _,
                options,
                savepoint_name: _,
                gid: _,
                chain: _,
                location: _,
            } = n;
            visit_all(options, visit);
        }
        NodeRef::ViewStmt(n) => {
            let pb::ViewStmt {
                view,
                aliases,
                query,
                replace: _,
                options,
                with_check_option: _,
            } = n;
            if let Some(child) = view {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(aliases, visit);
            visit_one(query, visit);
            visit_all(options, visit);
        }
        NodeRef::LoadStmt(n) => {
            let pb::LoadStmt { filename: _ } = n;
        }
        NodeRef::CreateDomainStmt(n) => {
            let pb::CreateDomainStmt {
                domainname,
                type_name,
                coll_clause,
                constraints,
            } = n;
            visit_all(domainname, visit);
            if let Some(child) = type_name {
                visit(NodeRef::TypeName(child));
            }
            if let Some(child) = coll_clause {
                visit(NodeRef::CollateClause(child));
            }
            visit_all(constraints, visit);
        }
        NodeRef::CreatedbStmt(n) => {
            let pb::CreatedbStmt { dbname: _, options } = n;
            visit_all(options, visit);
        }
        NodeRef::DropdbStmt(n) => {
            let pb::DropdbStmt {
                dbname: _,
                missing_ok: _,
                options,
            } = n;
            visit_all(options, visit);
        }
        NodeRef::VacuumStmt(n) => {
            let pb::VacuumStmt {
                options,
                rels,
                is_vacuumcmd: _,
            } = n;
            visit_all(options, visit);
            visit_all(rels, visit);
        }
        NodeRef::ExplainStmt(n) => {
            let pb::ExplainStmt { query, options } = n;
            visit_one(query, visit);
            visit_all(options, visit);
        }
        NodeRef::CreateTableAsStmt(n) => {
            let pb::CreateTableAsStmt {
                query,
                into,
                objtype: _,
                is_select_into: _,
                if_not_exists: _,
            } = n;
            visit_one(query, visit);
            if let Some(child) = into {
                visit(NodeRef::IntoClause(child));
            }
        }
        NodeRef::CreateSeqStmt(n) => {
            let pb::CreateSeqStmt {
                sequence,
                options,
                owner_id: _,
                for_identity: _,
                if_not_exists: _,
            } = n;
            if let Some(child) = sequence {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(options, visit);
        }
        NodeRef::AlterSeqStmt(n) => {
            let pb::AlterSeqStmt {
                sequence,
                options,
                for_identity: _,
                missing_ok: _,
            } = n;
            if let Some(child) = sequence {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(options, visit);
        }
        NodeRef::VariableSetStmt(n) => {
            let pb::VariableSetStmt {
                kind: _,
                name: _,
                args,
                jumble_args: _,
                is_local: _,
                location: _,
            } = n;
            visit_all(args, visit);
        }
        NodeRef::VariableShowStmt(n) => {
            let pb::VariableShowStmt { name: _ } = n;
        }
        NodeRef::DiscardStmt(n) => {
            let pb::DiscardStmt { target: _ } = n;
        }
        NodeRef::CreateTrigStmt(n) => {
            let pb::CreateTrigStmt {
                replace: _,
                isconstraint: _,
                trigname: _,
                relation,
                funcname,
                args,
                row: _,
                timing: _,
                events: _,
                columns,
                when_clause,
                transition_rels,
                deferrable: _,
                initdeferred: _,
                constrrel,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(funcname, visit);
            visit_all(args, visit);
            visit_all(columns, visit);
            visit_one(when_clause, visit);
            visit_all(transition_rels, visit);
            if let Some(child) = constrrel {
                visit(NodeRef::RangeVar(child));
            }
        }
        NodeRef::CreatePlangStmt(n) => {
            let pb::CreatePLangStmt {
                replace: _,
                plname: _,
                plhandler,
                plinline,
                plvalidator,
                pltrusted: _,
            } = n;
            visit_all(plhandler, visit);
            visit_all(plinline, visit);
            visit_all(plvalidator, visit);
        }
        NodeRef::CreateRoleStmt(n) => {
            let pb::CreateRoleStmt {
                stmt_type: _,
                role: _,
                options,
            } = n;
            visit_all(options, visit);
        }
        NodeRef::AlterRoleStmt(n) => {
            let pb::AlterRoleStmt {
                role,
                options,
                action: _,
            } = n;
            if let Some(child) = role {
                visit(NodeRef::RoleSpec(child));
            }
            visit_all(options, visit);
        }
        NodeRef::DropRoleStmt(n) => {
            let pb::DropRoleStmt {
                roles,
                missing_ok: _,
            } = n;
            visit_all(roles, visit);
        }
        NodeRef::LockStmt(n) => {
            let pb::LockStmt {
                relations,
                mode: _,
                nowait: _,
            } = n;
            visit_all(relations, visit);
        }
        NodeRef::ConstraintsSetStmt(n) => {
            let pb::ConstraintsSetStmt {
                constraints,
                deferred: _,
            } = n;
            visit_all(constraints, visit);
        }
        NodeRef::ReindexStmt(n) => {
            let pb::ReindexStmt {
                kind: _,
                relation,
                name: _,
                params,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(params, visit);
        }
        NodeRef::CheckPointStmt(n) => {
            let pb::CheckPointStmt {} = n;
        }
        NodeRef::CreateSchemaStmt(n) => {
            let pb::CreateSchemaStmt {
                schemaname: _,
                authrole,
                schema_elts,
                if_not_exists: _,
            } = n;
            if let Some(child) = authrole {
                visit(NodeRef::RoleSpec(child));
            }
            visit_all(schema_elts, visit);
        }
        NodeRef::AlterDatabaseStmt(n) => {
            let pb::AlterDatabaseStmt { dbname: _, options } = n;
            visit_all(options, visit);
        }
        NodeRef::AlterDatabaseSetStmt(n) => {
            let pb::AlterDatabaseSetStmt { dbname: _, setstmt } = n;
            if let Some(child) = setstmt {
                visit(NodeRef::VariableSetStmt(child));
            }
        }
        NodeRef::AlterRoleSetStmt(n) => {
            let pb::AlterRoleSetStmt {
                role,
                database: _,
                setstmt,
            } = n;
            if let Some(child) = role {
                visit(NodeRef::RoleSpec(child));
            }
            if let Some(child) = setstmt {
                visit(NodeRef::VariableSetStmt(child));
            }
        }
        NodeRef::CreateConversionStmt(n) => {
            let pb::CreateConversionStmt {
                conversion_name,
                for_encoding_name: _,
                to_encoding_name: _,
                func_name,
                def: _,
            } = n;
            visit_all(conversion_name, visit);
            visit_all(func_name, visit);
        }
        NodeRef::CreateCastStmt(n) => {
            let pb::CreateCastStmt {
                sourcetype,
                targettype,
                func,
                context: _,
                inout: _,
            } = n;
            if let Some(child) = sourcetype {
                visit(NodeRef::TypeName(child));
            }
            if let Some(child) = targettype {
                visit(NodeRef::TypeName(child));
            }
            if let Some(child) = func {
                visit(NodeRef::ObjectWithArgs(child));
            }
        }
        NodeRef::CreateOpClassStmt(n) => {
            let pb::CreateOpClassStmt {
                opclassname,
                opfamilyname,
                amname: _,
                datatype,
                items,
                is_default: _,
            } = n;
            visit_all(opclassname, visit);
            visit_all(opfamilyname, visit);
            if let Some(child) = datatype {
                visit(NodeRef::TypeName(child));
            }
            visit_all(items, visit);
        }
        NodeRef::CreateOpFamilyStmt(n) => {
            let pb::CreateOpFamilyStmt {
                opfamilyname,
                amname: _,
            } = n;
            visit_all(opfamilyname, visit);
        }
        NodeRef::AlterOpFamilyStmt(n) => {
            let pb::AlterOpFamilyStmt {
                opfamilyname,
                amname: _,
                is_drop: _,
                items,
            } = n;
            visit_all(opfamilyname, visit);
            visit_all(items, visit);
        }
        NodeRef::PrepareStmt(n) => {
            let pb::PrepareStmt {
                name: _,
                argtypes,
                query,
            } = n;
            visit_all(argtypes, visit);
            visit_one(query, visit);
        }
        NodeRef::ExecuteStmt(n) => {
            let pb::ExecuteStmt { name: _, params } = n;
            visit_all(params, visit);
        }
        NodeRef::DeallocateStmt(n) => {
            let pb::DeallocateStmt {
                name: _,
                isall: _,
                location: _,
            } = n;
        }
        NodeRef::DeclareCursorStmt(n) => {
            let pb::DeclareCursorStmt {
                portalname: _,
                options: _,
                query,
            } = n;
            visit_one(query, visit);
        }
        NodeRef::CreateTableSpaceStmt(n) => {
            let pb::CreateTableSpaceStmt {
                tablespacename: _,
                owner,
                location: _,
                options,
            } = n;
            if let Some(child) = owner {
                visit(NodeRef::RoleSpec(child));
            }
            visit_all(options, visit);
        }
        NodeRef::DropTableSpaceStmt(n) => {
            let pb::DropTableSpaceStmt {
                tablespacename: _,
                missing_ok: _,
            } = n;
        }
        NodeRef::AlterObjectDependsStmt(n) => {
            let pb::AlterObjectDependsStmt {
                object_type: _,
                relation,
                object,
                extname,
                remove: _,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_one(object, visit);
            if let Some(child) = extname {
                visit(NodeRef::String(child));
            }
        }
        NodeRef::AlterObjectSchemaStmt(n) => {
            let pb::AlterObjectSchemaStmt {
                object_type: _,
                relation,
                object,
                newschema: _,
                missing_ok: _,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_one(object, visit);
        }
        NodeRef::AlterOwnerStmt(n) => {
            let pb::AlterOwnerStmt {
                object_type: _,
                relation,
                object,
                newowner,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_one(object, visit);
            if let Some(child) = newowner {
                visit(NodeRef::RoleSpec(child));
            }
        }
        NodeRef::AlterOperatorStmt(n) => {
            let pb::AlterOperatorStmt { opername, options } = n;
            if let Some(child) = opername {
                visit(NodeRef::ObjectWithArgs(child));
            }
            visit_all(options, visit);
        }
        NodeRef::AlterTypeStmt(n) => {
            let pb::AlterTypeStmt { type_name, options } = n;
            visit_all(type_name, visit);
            visit_all(options, visit);
        }
        NodeRef::AtalterConstraint(n) => {
            let pb::AtAlterConstraint {
                conname: _,
                alter_enforceability: _,
                is_enforced: _,
                alter_deferrability: _,
                deferrable: _,
                initdeferred: _,
                alter_inheritability: _,
                noinherit: _,
            } = n;
        }
        NodeRef::DropOwnedStmt(n) => {
            let pb::DropOwnedStmt { roles, behavior: _ } = n;
            visit_all(roles, visit);
        }
        NodeRef::ReassignOwnedStmt(n) => {
            let pb::ReassignOwnedStmt { roles, newrole } = n;
            visit_all(roles, visit);
            if let Some(child) = newrole {
                visit(NodeRef::RoleSpec(child));
            }
        }
        NodeRef::CompositeTypeStmt(n) => {
            let pb::CompositeTypeStmt {
                typevar,
                coldeflist,
            } = n;
            if let Some(child) = typevar {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(coldeflist, visit);
        }
        NodeRef::CreateEnumStmt(n) => {
            let pb::CreateEnumStmt { type_name, vals } = n;
            visit_all(type_name, visit);
            visit_all(vals, visit);
        }
        NodeRef::CreateRangeStmt(n) => {
            let pb::CreateRangeStmt { type_name, params } = n;
            visit_all(type_name, visit);
            visit_all(params, visit);
        }
        NodeRef::AlterEnumStmt(n) => {
            let pb::AlterEnumStmt {
                type_name,
                old_val: _,
                new_val: _,
                new_val_neighbor: _,
                new_val_is_after: _,
                skip_if_new_val_exists: _,
            } = n;
            visit_all(type_name, visit);
        }
        NodeRef::AlterTsdictionaryStmt(n) => {
            let pb::AlterTsDictionaryStmt { dictname, options } = n;
            visit_all(dictname, visit);
            visit_all(options, visit);
        }
        NodeRef::AlterTsconfigurationStmt(n) => {
            let pb::AlterTsConfigurationStmt {
                kind: _,
                cfgname,
                tokentype,
                dicts,
                r#override: _,
                replace: _,
                missing_ok: _,
            } = n;
            visit_all(cfgname, visit);
            visit_all(tokentype, visit);
            visit_all(dicts, visit);
        }
        NodeRef::CreateFdwStmt(n) => {
            let pb::CreateFdwStmt {
                fdwname: _,
                func_options,
                options,
            } = n;
            visit_all(func_options, visit);
            visit_all(options, visit);
        }
        NodeRef::AlterFdwStmt(n) => {
            let pb::AlterFdwStmt {
                fdwname: _,
                func_options,
                options,
            } = n;
            visit_all(func_options, visit);
            visit_all(options, visit);
        }
        NodeRef::CreateForeignServerStmt(n) => {
            let pb::CreateForeignServerStmt {
                servername: _,
                servertype: _,
                version: _,
                fdwname: _,
                if_not_exists: _,
                options,
            } = n;
            visit_all(options, visit);
        }
        NodeRef::AlterForeignServerStmt(n) => {
            let pb::AlterForeignServerStmt {
                servername: _,
                version: _,
                options,
                has_version: _,
            } = n;
            visit_all(options, visit);
        }
        NodeRef::CreateUserMappingStmt(n) => {
            let pb::CreateUserMappingStmt {
                user,
                servername: _,
                if_not_exists: _,
                options,
            } = n;
            if let Some(child) = user {
                visit(NodeRef::RoleSpec(child));
            }
            visit_all(options, visit);
        }
        NodeRef::AlterUserMappingStmt(n) => {
            let pb::AlterUserMappingStmt {
                user,
                servername: _,
                options,
            } = n;
            if let Some(child) = user {
                visit(NodeRef::RoleSpec(child));
            }
            visit_all(options, visit);
        }
        NodeRef::DropUserMappingStmt(n) => {
            let pb::DropUserMappingStmt {
                user,
                servername: _,
                missing_ok: _,
            } = n;
            if let Some(child) = user {
                visit(NodeRef::RoleSpec(child));
            }
        }
        NodeRef::AlterTableSpaceOptionsStmt(n) => {
            let pb::AlterTableSpaceOptionsStmt {
                tablespacename: _,
                options,
                is_reset: _,
            } = n;
            visit_all(options, visit);
        }
        NodeRef::AlterTableMoveAllStmt(n) => {
            let pb::AlterTableMoveAllStmt {
                orig_tablespacename: _,
                objtype: _,
                roles,
                new_tablespacename: _,
                nowait: _,
            } = n;
            visit_all(roles, visit);
        }
        NodeRef::SecLabelStmt(n) => {
            let pb::SecLabelStmt {
                objtype: _,
                object,
                provider: _,
                label: _,
            } = n;
            visit_one(object, visit);
        }
        NodeRef::CreateForeignTableStmt(n) => {
            let pb::CreateForeignTableStmt {
                base_stmt,
                servername: _,
                options,
            } = n;
            if let Some(child) = base_stmt {
                visit(NodeRef::CreateStmt(child));
            }
            visit_all(options, visit);
        }
        NodeRef::ImportForeignSchemaStmt(n) => {
            let pb::ImportForeignSchemaStmt {
                server_name: _,
                remote_schema: _,
                local_schema: _,
                list_type: _,
                table_list,
                options,
            } = n;
            visit_all(table_list, visit);
            visit_all(options, visit);
        }
        NodeRef::CreateExtensionStmt(n) => {
            let pb::CreateExtensionStmt {
                extname: _,
                if_not_exists: _,
                options,
            } = n;
            visit_all(options, visit);
        }
        NodeRef::AlterExtensionStmt(n) => {
            let pb::AlterExtensionStmt {
                extname: _,
                options,
            } = n;
            visit_all(options, visit);
        }
        NodeRef::AlterExtensionContentsStmt(n) => {
            let pb::AlterExtensionContentsStmt {
                extname: _,
                action: _,
                objtype: _,
                object,
            } = n;
            visit_one(object, visit);
        }
        NodeRef::CreateEventTrigStmt(n) => {
            let pb::CreateEventTrigStmt {
                trigname: _,
                eventname: _,
                whenclause,
                funcname,
            } = n;
            visit_all(whenclause, visit);
            visit_all(funcname, visit);
        }
        NodeRef::AlterEventTrigStmt(n) => {
            let pb::AlterEventTrigStmt {
                trigname: _,
                tgenabled: _,
            } = n;
        }
        NodeRef::RefreshMatViewStmt(n) => {
            let pb::RefreshMatViewStmt {
                concurrent: _,
                skip_data: _,
                relation,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
        }
        NodeRef::ReplicaIdentityStmt(n) => {
            let pb::ReplicaIdentityStmt {
                identity_type: _,
                name: _,
            } = n;
        }
        NodeRef::AlterSystemStmt(n) => {
            let pb::AlterSystemStmt { setstmt } = n;
            if let Some(child) = setstmt {
                visit(NodeRef::VariableSetStmt(child));
            }
        }
        NodeRef::CreatePolicyStmt(n) => {
            let pb::CreatePolicyStmt {
                policy_name: _,
                table,
                cmd_name: _,
                permissive: _,
                roles,
                qual,
                with_check,
            } = n;
            if let Some(child) = table {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(roles, visit);
            visit_one(qual, visit);
            visit_one(with_check, visit);
        }
        NodeRef::AlterPolicyStmt(n) => {
            let pb::AlterPolicyStmt {
                policy_name: _,
                table,
                roles,
                qual,
                with_check,
            } = n;
            if let Some(child) = table {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(roles, visit);
            visit_one(qual, visit);
            visit_one(with_check, visit);
        }
        NodeRef::CreateTransformStmt(n) => {
            let pb::CreateTransformStmt {
                replace: _,
                type_name,
                lang: _,
                fromsql,
                tosql,
            } = n;
            if let Some(child) = type_name {
                visit(NodeRef::TypeName(child));
            }
            if let Some(child) = fromsql {
                visit(NodeRef::ObjectWithArgs(child));
            }
            if let Some(child) = tosql {
                visit(NodeRef::ObjectWithArgs(child));
            }
        }
        NodeRef::CreateAmStmt(n) => {
            let pb::CreateAmStmt {
                amname: _,
                handler_name,
                amtype: _,
            } = n;
            visit_all(handler_name, visit);
        }
        NodeRef::CreatePublicationStmt(n) => {
            let pb::CreatePublicationStmt {
                pubname: _,
                options,
                pubobjects,
                for_all_tables: _,
            } = n;
            visit_all(options, visit);
            visit_all(pubobjects, visit);
        }
        NodeRef::AlterPublicationStmt(n) => {
            let pb::AlterPublicationStmt {
                pubname: _,
                options,
                pubobjects,
                for_all_tables: _,
                action: _,
            } = n;
            visit_all(options, visit);
            visit_all(pubobjects, visit);
        }
        NodeRef::CreateSubscriptionStmt(n) => {
            let pb::CreateSubscriptionStmt {
                subname: _,
                conninfo: _,
                publication,
                options,
                conninfo_location: _,
            } = n;
            visit_all(publication, visit);
            visit_all(options, visit);
        }
        NodeRef::AlterSubscriptionStmt(n) => {
            let pb::AlterSubscriptionStmt {
                kind: _,
                subname: _,
                conninfo: _,
                publication,
                options,
                conninfo_location: _,
            } = n;
            visit_all(publication, visit);
            visit_all(options, visit);
        }
        NodeRef::DropSubscriptionStmt(n) => {
            let pb::DropSubscriptionStmt {
                subname: _,
                missing_ok: _,
                behavior: _,
            } = n;
        }
        NodeRef::CreateStatsStmt(n) => {
            let pb::CreateStatsStmt {
                defnames,
                stat_types,
                exprs,
                relations,
                stxcomment: _,
                transformed: _,
                if_not_exists: _,
            } = n;
            visit_all(defnames, visit);
            visit_all(stat_types, visit);
            visit_all(exprs, visit);
            visit_all(relations, visit);
        }
        NodeRef::AlterCollationStmt(n) => {
            let pb::AlterCollationStmt { collname } = n;
            visit_all(collname, visit);
        }
        NodeRef::CallStmt(n) => {
            let pb::CallStmt {
                funccall,
                funcexpr,
                outargs,
            } = n;
            if let Some(child) = funccall {
                visit(NodeRef::FuncCall(child));
            }
            if let Some(child) = funcexpr {
                visit(NodeRef::FuncExpr(child));
            }
            visit_all(outargs, visit);
        }
        NodeRef::AlterStatsStmt(n) => {
            let pb::AlterStatsStmt {
                defnames,
                stxstattarget,
                missing_ok: _,
            } = n;
            visit_all(defnames, visit);
            visit_one(stxstattarget, visit);
        }
        NodeRef::AExpr(n) => {
            let pb::AExpr {
                kind: _,
                name,
                lexpr,
                rexpr,
                rexpr_list_start: _,
                rexpr_list_end: _,
                location: _,
            } = n;
            visit_all(name, visit);
            visit_one(lexpr, visit);
            visit_one(rexpr, visit);
        }
        NodeRef::ColumnRef(n) => {
            let pb::ColumnRef {
                fields,
                location: _,
            } = n;
            visit_all(fields, visit);
        }
        NodeRef::ParamRef(n) => {
            let pb::ParamRef {
                number: _,
                location: _,
            } = n;
        }
        NodeRef::AConst(n) => {
            let pb::AConst {
                isnull: _,
                location: _,
                val: _,
            } = n;
        }
        NodeRef::FuncCall(n) => {
            let pb::FuncCall {
                funcname,
                args,
                agg_order,
                agg_filter,
                over,
                agg_within_group: _,
                agg_star: _,
                agg_distinct: _,
                func_variadic: _,
                funcformat: _,
                location: _,
            } = n;
            visit_all(funcname, visit);
            visit_all(args, visit);
            visit_all(agg_order, visit);
            visit_one(agg_filter, visit);
            if let Some(child) = over {
                visit(NodeRef::WindowDef(child));
            }
        }
        NodeRef::AStar(n) => {
            let pb::AStar {} = n;
        }
        NodeRef::AIndices(n) => {
            let pb::AIndices {
                is_slice: _,
                lidx,
                uidx,
            } = n;
            visit_one(lidx, visit);
            visit_one(uidx, visit);
        }
        NodeRef::AIndirection(n) => {
            let pb::AIndirection { arg, indirection } = n;
            visit_one(arg, visit);
            visit_all(indirection, visit);
        }
        NodeRef::AArrayExpr(n) => {
            let pb::AArrayExpr {
                elements,
                list_start: _,
                list_end: _,
                location: _,
            } = n;
            visit_all(elements, visit);
        }
        NodeRef::ResTarget(n) => {
            let pb::ResTarget {
                name: _,
                indirection,
                val,
                location: _,
            } = n;
            visit_all(indirection, visit);
            visit_one(val, visit);
        }
        NodeRef::MultiAssignRef(n) => {
            let pb::MultiAssignRef {
                source,
                colno: _,
                ncolumns: _,
            } = n;
            visit_one(source, visit);
        }
        NodeRef::TypeCast(n) => {
            let pb::TypeCast {
                arg,
                type_name,
                location: _,
            } = n;
            visit_one(arg, visit);
            if let Some(child) = type_name {
                visit(NodeRef::TypeName(child));
            }
        }
        NodeRef::CollateClause(n) => {
            let pb::CollateClause {
                arg,
                collname,
                location: _,
            } = n;
            visit_one(arg, visit);
            visit_all(collname, visit);
        }
        NodeRef::SortBy(n) => {
            let pb::SortBy {
                node,
                sortby_dir: _,
                sortby_nulls: _,
                use_op,
                location: _,
            } = n;
            visit_one(node, visit);
            visit_all(use_op, visit);
        }
        NodeRef::WindowDef(n) => {
            let pb::WindowDef {
                name: _,
                refname: _,
                partition_clause,
                order_clause,
                frame_options: _,
                start_offset,
                end_offset,
                location: _,
            } = n;
            visit_all(partition_clause, visit);
            visit_all(order_clause, visit);
            visit_one(start_offset, visit);
            visit_one(end_offset, visit);
        }
        NodeRef::RangeSubselect(n) => {
            let pb::RangeSubselect {
                lateral: _,
                subquery,
                alias,
            } = n;
            visit_one(subquery, visit);
            if let Some(child) = alias {
                visit(NodeRef::Alias(child));
            }
        }
        NodeRef::RangeFunction(n) => {
            let pb::RangeFunction {
                lateral: _,
                ordinality: _,
                is_rowsfrom: _,
                functions,
                alias,
                coldeflist,
            } = n;
            visit_all(functions, visit);
            if let Some(child) = alias {
                visit(NodeRef::Alias(child));
            }
            visit_all(coldeflist, visit);
        }
        NodeRef::RangeTableSample(n) => {
            let pb::RangeTableSample {
                relation,
                method,
                args,
                repeatable,
                location: _,
            } = n;
            visit_one(relation, visit);
            visit_all(method, visit);
            visit_all(args, visit);
            visit_one(repeatable, visit);
        }
        NodeRef::RangeTableFunc(n) => {
            let pb::RangeTableFunc {
                lateral: _,
                docexpr,
                rowexpr,
                namespaces,
                columns,
                alias,
                location: _,
            } = n;
            visit_one(docexpr, visit);
            visit_one(rowexpr, visit);
            visit_all(namespaces, visit);
            visit_all(columns, visit);
            if let Some(child) = alias {
                visit(NodeRef::Alias(child));
            }
        }
        NodeRef::RangeTableFuncCol(n) => {
            let pb::RangeTableFuncCol {
                colname: _,
                type_name,
                for_ordinality: _,
                is_not_null: _,
                colexpr,
                coldefexpr,
                location: _,
            } = n;
            if let Some(child) = type_name {
                visit(NodeRef::TypeName(child));
            }
            visit_one(colexpr, visit);
            visit_one(coldefexpr, visit);
        }
        NodeRef::TypeName(n) => {
            let pb::TypeName {
                names,
                type_oid: _,
                setof: _,
                pct_type: _,
                typmods,
                typemod: _,
                array_bounds,
                location: _,
            } = n;
            visit_all(names, visit);
            visit_all(typmods, visit);
            visit_all(array_bounds, visit);
        }
        NodeRef::ColumnDef(n) => {
            let pb::ColumnDef {
                colname: _,
                type_name,
                compression: _,
                inhcount: _,
                is_local: _,
                is_not_null: _,
                is_from_type: _,
                storage: _,
                storage_name: _,
                raw_default,
                cooked_default,
                identity: _,
                identity_sequence,
                generated: _,
                coll_clause,
                coll_oid: _,
                constraints,
                fdwoptions,
                location: _,
            } = n;
            if let Some(child) = type_name {
                visit(NodeRef::TypeName(child));
            }
            visit_one(raw_default, visit);
            visit_one(cooked_default, visit);
            if let Some(child) = identity_sequence {
                visit(NodeRef::RangeVar(child));
            }
            if let Some(child) = coll_clause {
                visit(NodeRef::CollateClause(child));
            }
            visit_all(constraints, visit);
            visit_all(fdwoptions, visit);
        }
        NodeRef::IndexElem(n) => {
            let pb::IndexElem {
                name: _,
                expr,
                indexcolname: _,
                collation,
                opclass,
                opclassopts,
                ordering: _,
                nulls_ordering: _,
            } = n;
            visit_one(expr, visit);
            visit_all(collation, visit);
            visit_all(opclass, visit);
            visit_all(opclassopts, visit);
        }
        NodeRef::Constraint(n) => {
            let pb::Constraint {
                contype: _,
                conname: _,
                deferrable: _,
                initdeferred: _,
                is_enforced: _,
                skip_validation: _,
                initially_valid: _,
                is_no_inherit: _,
                raw_expr,
                cooked_expr: _,
                generated_when: _,
                generated_kind: _,
                nulls_not_distinct: _,
                keys,
                without_overlaps: _,
                including,
                exclusions,
                options,
                indexname: _,
                indexspace: _,
                reset_default_tblspc: _,
                access_method: _,
                where_clause,
                pktable,
                fk_attrs,
                pk_attrs,
                fk_with_period: _,
                pk_with_period: _,
                fk_matchtype: _,
                fk_upd_action: _,
                fk_del_action: _,
                fk_del_set_cols,
                old_conpfeqop,
                old_pktable_oid: _,
                location: _,
            } = n;
            visit_one(raw_expr, visit);
            visit_all(keys, visit);
            visit_all(including, visit);
            visit_all(exclusions, visit);
            visit_all(options, visit);
            visit_one(where_clause, visit);
            if let Some(child) = pktable {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(fk_attrs, visit);
            visit_all(pk_attrs, visit);
            visit_all(fk_del_set_cols, visit);
            visit_all(old_conpfeqop, visit);
        }
        NodeRef::DefElem(n) => {
            let pb::DefElem {
                defnamespace: _,
                defname: _,
                arg,
                defaction: _,
                location: _,
                arg_location: _,
            } = n;
            visit_one(arg, visit);
        }
        NodeRef::RangeTblEntry(n) => {
            let pb::RangeTblEntry {
                alias,
                eref,
                rtekind: _,
                relid: _,
                inh: _,
                relkind: _,
                rellockmode: _,
                perminfoindex: _,
                tablesample,
                subquery,
                security_barrier: _,
                jointype: _,
                joinmergedcols: _,
                joinaliasvars,
                joinleftcols,
                joinrightcols,
                join_using_alias,
                functions,
                funcordinality: _,
                tablefunc,
                values_lists,
                ctename: _,
                ctelevelsup: _,
                self_reference: _,
                coltypes,
                coltypmods,
                colcollations,
                enrname: _,
                enrtuples: _,
                groupexprs,
                lateral: _,
                in_from_cl: _,
                security_quals,
            } = n;
            if let Some(child) = alias {
                visit(NodeRef::Alias(child));
            }
            if let Some(child) = eref {
                visit(NodeRef::Alias(child));
            }
            if let Some(child) = tablesample {
                visit(NodeRef::TableSampleClause(child));
            }
            if let Some(child) = subquery {
                visit(NodeRef::Query(child));
            }
            visit_all(joinaliasvars, visit);
            visit_all(joinleftcols, visit);
            visit_all(joinrightcols, visit);
            if let Some(child) = join_using_alias {
                visit(NodeRef::Alias(child));
            }
            visit_all(functions, visit);
            if let Some(child) = tablefunc {
                visit(NodeRef::TableFunc(child));
            }
            visit_all(values_lists, visit);
            visit_all(coltypes, visit);
            visit_all(coltypmods, visit);
            visit_all(colcollations, visit);
            visit_all(groupexprs, visit);
            visit_all(security_quals, visit);
        }
        NodeRef::RangeTblFunction(n) => {
            let pb::RangeTblFunction {
                funcexpr,
                funccolcount: _,
                funccolnames,
                funccoltypes,
                funccoltypmods,
                funccolcollations,
                funcparams: _,
            } = n;
            visit_one(funcexpr, visit);
            visit_all(funccolnames, visit);
            visit_all(funccoltypes, visit);
            visit_all(funccoltypmods, visit);
            visit_all(funccolcollations, visit);
        }
        NodeRef::TableSampleClause(n) => {
            let pb::TableSampleClause {
                tsmhandler: _,
                args,
                repeatable,
            } = n;
            visit_all(args, visit);
            visit_one(repeatable, visit);
        }
        NodeRef::WithCheckOption(n) => {
            let pb::WithCheckOption {
                kind: _,
                relname: _,
                polname: _,
                qual,
                cascaded: _,
            } = n;
            visit_one(qual, visit);
        }
        NodeRef::SortGroupClause(n) => {
            let pb::SortGroupClause {
                tle_sort_group_ref: _,
                eqop: _,
                sortop: _,
                reverse_sort: _,
                nulls_first: _,
                hashable: _,
            } = n;
        }
        NodeRef::GroupingSet(n) => {
            let pb::GroupingSet {
                kind: _,
                content,
                location: _,
            } = n;
            visit_all(content, visit);
        }
        NodeRef::WindowClause(n) => {
            let pb::WindowClause {
                name: _,
                refname: _,
                partition_clause,
                order_clause,
                frame_options: _,
                start_offset,
                end_offset,
                start_in_range_func: _,
                end_in_range_func: _,
                in_range_coll: _,
                in_range_asc: _,
                in_range_nulls_first: _,
                winref: _,
                copied_order: _,
            } = n;
            visit_all(partition_clause, visit);
            visit_all(order_clause, visit);
            visit_one(start_offset, visit);
            visit_one(end_offset, visit);
        }
        NodeRef::ObjectWithArgs(n) => {
            let pb::ObjectWithArgs {
                objname,
                objargs,
                objfuncargs,
                args_unspecified: _,
            } = n;
            visit_all(objname, visit);
            visit_all(objargs, visit);
            visit_all(objfuncargs, visit);
        }
        NodeRef::AccessPriv(n) => {
            let pb::AccessPriv { priv_name: _, cols } = n;
            visit_all(cols, visit);
        }
        NodeRef::CreateOpClassItem(n) => {
            let pb::CreateOpClassItem {
                itemtype: _,
                name,
                number: _,
                order_family,
                class_args,
                storedtype,
            } = n;
            if let Some(child) = name {
                visit(NodeRef::ObjectWithArgs(child));
            }
            visit_all(order_family, visit);
            visit_all(class_args, visit);
            if let Some(child) = storedtype {
                visit(NodeRef::TypeName(child));
            }
        }
        NodeRef::TableLikeClause(n) => {
            let pb::TableLikeClause {
                relation,
                options: _,
                relation_oid: _,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
        }
        NodeRef::FunctionParameter(n) => {
            let pb::FunctionParameter {
                name: _,
                arg_type,
                mode: _,
                defexpr,
                location: _,
            } = n;
            if let Some(child) = arg_type {
                visit(NodeRef::TypeName(child));
            }
            visit_one(defexpr, visit);
        }
        NodeRef::LockingClause(n) => {
            let pb::LockingClause {
                locked_rels,
                strength: _,
                wait_policy: _,
            } = n;
            visit_all(locked_rels, visit);
        }
        NodeRef::RowMarkClause(n) => {
            let pb::RowMarkClause {
                rti: _,
                strength: _,
                wait_policy: _,
                pushed_down: _,
            } = n;
        }
        NodeRef::XmlSerialize(n) => {
            let pb::XmlSerialize {
                xmloption: _,
                expr,
                type_name,
                indent: _,
                location: _,
            } = n;
            visit_one(expr, visit);
            if let Some(child) = type_name {
                visit(NodeRef::TypeName(child));
            }
        }
        NodeRef::WithClause(n) => {
            let pb::WithClause {
                ctes,
                recursive: _,
                location: _,
            } = n;
            visit_all(ctes, visit);
        }
        NodeRef::InferClause(n) => {
            let pb::InferClause {
                index_elems,
                where_clause,
                conname: _,
                location: _,
            } = n;
            visit_all(index_elems, visit);
            visit_one(where_clause, visit);
        }
        NodeRef::OnConflictClause(n) => {
            let pb::OnConflictClause {
                action: _,
                infer,
                target_list,
                where_clause,
                location: _,
            } = n;
            if let Some(child) = infer {
                visit(NodeRef::InferClause(child));
            }
            visit_all(target_list, visit);
            visit_one(where_clause, visit);
        }
        NodeRef::CommonTableExpr(n) => {
            let pb::CommonTableExpr {
                ctename: _,
                aliascolnames,
                ctematerialized: _,
                ctequery,
                search_clause,
                cycle_clause,
                location: _,
                cterecursive: _,
                cterefcount: _,
                ctecolnames,
                ctecoltypes,
                ctecoltypmods,
                ctecolcollations,
            } = n;
            visit_all(aliascolnames, visit);
            visit_one(ctequery, visit);
            if let Some(child) = search_clause {
                visit(NodeRef::CtesearchClause(child));
            }
            if let Some(child) = cycle_clause {
                visit(NodeRef::CtecycleClause(child));
            }
            visit_all(ctecolnames, visit);
            visit_all(ctecoltypes, visit);
            visit_all(ctecoltypmods, visit);
            visit_all(ctecolcollations, visit);
        }
        NodeRef::RoleSpec(n) => {
            let pb::RoleSpec {
                roletype: _,
                rolename: _,
                location: _,
            } = n;
        }
        NodeRef::TriggerTransition(n) => {
            let pb::TriggerTransition {
                name: _,
                is_new: _,
                is_table: _,
            } = n;
        }
        NodeRef::PartitionElem(n) => {
            let pb::PartitionElem {
                name: _,
                expr,
                collation,
                opclass,
                location: _,
            } = n;
            visit_one(expr, visit);
            visit_all(collation, visit);
            visit_all(opclass, visit);
        }
        NodeRef::PartitionSpec(n) => {
            let pb::PartitionSpec {
                strategy: _,
                part_params,
                location: _,
            } = n;
            visit_all(part_params, visit);
        }
        NodeRef::PartitionBoundSpec(n) => {
            let pb::PartitionBoundSpec {
                strategy: _,
                is_default: _,
                modulus: _,
                remainder: _,
                listdatums,
                lowerdatums,
                upperdatums,
                location: _,
            } = n;
            visit_all(listdatums, visit);
            visit_all(lowerdatums, visit);
            visit_all(upperdatums, visit);
        }
        NodeRef::PartitionRangeDatum(n) => {
            let pb::PartitionRangeDatum {
                kind: _,
                value,
                location: _,
            } = n;
            visit_one(value, visit);
        }
        NodeRef::PartitionCmd(n) => {
            let pb::PartitionCmd {
                name,
                bound,
                concurrent: _,
            } = n;
            if let Some(child) = name {
                visit(NodeRef::RangeVar(child));
            }
            if let Some(child) = bound {
                visit(NodeRef::PartitionBoundSpec(child));
            }
        }
        NodeRef::VacuumRelation(n) => {
            let pb::VacuumRelation {
                relation,
                oid: _,
                va_cols,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_all(va_cols, visit);
        }
        NodeRef::InlineCodeBlock(n) => {
            let pb::InlineCodeBlock {
                source_text: _,
                lang_oid: _,
                lang_is_trusted: _,
                atomic: _,
            } = n;
        }
        NodeRef::CallContext(n) => {
            let pb::CallContext { atomic: _ } = n;
        }
        NodeRef::Integer(n) => {
            let pb::Integer { ival: _ } = n;
        }
        NodeRef::Float(n) => {
            let pb::Float { fval: _ } = n;
        }
        NodeRef::Boolean(n) => {
            let pb::Boolean { boolval: _ } = n;
        }
        NodeRef::String(n) => {
            let pb::String { sval: _ } = n;
        }
        NodeRef::BitString(n) => {
            let pb::BitString { bsval: _ } = n;
        }
        NodeRef::List(n) => {
            let pb::List { items } = n;
            visit_all(items, visit);
        }
        NodeRef::IntList(n) => {
            let pb::IntList { items } = n;
            visit_all(items, visit);
        }
        NodeRef::OidList(n) => {
            let pb::OidList { items } = n;
            visit_all(items, visit);
        }
        NodeRef::MergeStmt(n) => {
            let pb::MergeStmt {
                relation,
                source_relation,
                join_condition,
                merge_when_clauses,
                returning_clause,
                with_clause,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_one(source_relation, visit);
            visit_one(join_condition, visit);
            visit_all(merge_when_clauses, visit);
            if let Some(child) = returning_clause {
                visit(NodeRef::ReturningClause(child));
            }
            if let Some(child) = with_clause {
                visit(NodeRef::WithClause(child));
            }
        }
        NodeRef::MergeAction(n) => {
            let pb::MergeAction {
                match_kind: _,
                command_type: _,
                r#override: _,
                qual,
                target_list,
                update_colnos,
            } = n;
            visit_one(qual, visit);
            visit_all(target_list, visit);
            visit_all(update_colnos, visit);
        }
        NodeRef::AlterDatabaseRefreshCollStmt(n) => {
            let pb::AlterDatabaseRefreshCollStmt { dbname: _ } = n;
        }
        NodeRef::ReturnStmt(n) => {
            let pb::ReturnStmt { returnval } = n;
            visit_one(returnval, visit);
        }
        NodeRef::ReturningClause(n) => {
            let pb::ReturningClause { options, exprs } = n;
            visit_all(options, visit);
            visit_all(exprs, visit);
        }
        NodeRef::ReturningExpr(n) => {
            let pb::ReturningExpr {
                xpr,
                retlevelsup: _,
                retold: _,
                retexpr,
            } = n;
            visit_one(xpr, visit);
            visit_one(retexpr, visit);
        }
        NodeRef::ReturningOption(n) => {
            let pb::ReturningOption {
                option: _,
                value: _,
                location: _,
            } = n;
        }
        NodeRef::PlassignStmt(n) => {
            let pb::PlAssignStmt {
                name: _,
                indirection,
                nnames: _,
                val,
                location: _,
            } = n;
            visit_all(indirection, visit);
            if let Some(child) = val {
                visit(NodeRef::SelectStmt(child));
            }
        }
        NodeRef::StatsElem(n) => {
            let pb::StatsElem { name: _, expr } = n;
            visit_one(expr, visit);
        }
        NodeRef::CtesearchClause(n) => {
            let pb::CteSearchClause {
                search_col_list,
                search_breadth_first: _,
                search_seq_column: _,
                location: _,
            } = n;
            visit_all(search_col_list, visit);
        }
        NodeRef::CtecycleClause(n) => {
            let pb::CteCycleClause {
                cycle_col_list,
                cycle_mark_column: _,
                cycle_mark_value,
                cycle_mark_default,
                cycle_path_column: _,
                location: _,
                cycle_mark_type: _,
                cycle_mark_typmod: _,
                cycle_mark_collation: _,
                cycle_mark_neop: _,
            } = n;
            visit_all(cycle_col_list, visit);
            visit_one(cycle_mark_value, visit);
            visit_one(cycle_mark_default, visit);
        }
        NodeRef::MergeWhenClause(n) => {
            let pb::MergeWhenClause {
                match_kind: _,
                command_type: _,
                r#override: _,
                condition,
                target_list,
                values,
            } = n;
            visit_one(condition, visit);
            visit_all(target_list, visit);
            visit_all(values, visit);
        }
        NodeRef::PublicationObjSpec(n) => {
            let pb::PublicationObjSpec {
                pubobjtype: _,
                name: _,
                pubtable,
                location: _,
            } = n;
            if let Some(child) = pubtable {
                visit(NodeRef::PublicationTable(child));
            }
        }
        NodeRef::PublicationTable(n) => {
            let pb::PublicationTable {
                relation,
                where_clause,
                columns,
            } = n;
            if let Some(child) = relation {
                visit(NodeRef::RangeVar(child));
            }
            visit_one(where_clause, visit);
            visit_all(columns, visit);
        }
        NodeRef::JsonFormat(n) => {
            let pb::JsonFormat {
                format_type: _,
                encoding: _,
                location: _,
            } = n;
        }
        NodeRef::JsonReturning(n) => {
            let pb::JsonReturning {
                format,
                typid: _,
                typmod: _,
            } = n;
            if let Some(child) = format {
                visit(NodeRef::JsonFormat(child));
            }
        }
        NodeRef::JsonValueExpr(n) => {
            let pb::JsonValueExpr {
                raw_expr,
                formatted_expr,
                format,
            } = n;
            visit_one(raw_expr, visit);
            visit_one(formatted_expr, visit);
            if let Some(child) = format {
                visit(NodeRef::JsonFormat(child));
            }
        }
        NodeRef::JsonConstructorExpr(n) => {
            let pb::JsonConstructorExpr {
                xpr,
                r#type: _,
                args,
                func,
                coercion,
                returning,
                absent_on_null: _,
                unique: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_all(args, visit);
            visit_one(func, visit);
            visit_one(coercion, visit);
            if let Some(child) = returning {
                visit(NodeRef::JsonReturning(child));
            }
        }
        NodeRef::JsonIsPredicate(n) => {
            let pb::JsonIsPredicate {
                expr,
                format,
                item_type: _,
                unique_keys: _,
                location: _,
            } = n;
            visit_one(expr, visit);
            if let Some(child) = format {
                visit(NodeRef::JsonFormat(child));
            }
        }
        NodeRef::JsonOutput(n) => {
            let pb::JsonOutput {
                type_name,
                returning,
            } = n;
            if let Some(child) = type_name {
                visit(NodeRef::TypeName(child));
            }
            if let Some(child) = returning {
                visit(NodeRef::JsonReturning(child));
            }
        }
        NodeRef::JsonKeyValue(n) => {
            let pb::JsonKeyValue { key, value } = n;
            visit_one(key, visit);
            if let Some(child) = value {
                visit(NodeRef::JsonValueExpr(child));
            }
        }
        NodeRef::JsonObjectConstructor(n) => {
            let pb::JsonObjectConstructor {
                exprs,
                output,
                absent_on_null: _,
                unique: _,
                location: _,
            } = n;
            visit_all(exprs, visit);
            if let Some(child) = output {
                visit(NodeRef::JsonOutput(child));
            }
        }
        NodeRef::JsonArrayConstructor(n) => {
            let pb::JsonArrayConstructor {
                exprs,
                output,
                absent_on_null: _,
                location: _,
            } = n;
            visit_all(exprs, visit);
            if let Some(child) = output {
                visit(NodeRef::JsonOutput(child));
            }
        }
        NodeRef::JsonArrayQueryConstructor(n) => {
            let pb::JsonArrayQueryConstructor {
                query,
                output,
                format,
                absent_on_null: _,
                location: _,
            } = n;
            visit_one(query, visit);
            if let Some(child) = output {
                visit(NodeRef::JsonOutput(child));
            }
            if let Some(child) = format {
                visit(NodeRef::JsonFormat(child));
            }
        }
        NodeRef::JsonAggConstructor(n) => {
            let pb::JsonAggConstructor {
                output,
                agg_filter,
                agg_order,
                over,
                location: _,
            } = n;
            if let Some(child) = output {
                visit(NodeRef::JsonOutput(child));
            }
            visit_one(agg_filter, visit);
            visit_all(agg_order, visit);
            if let Some(child) = over {
                visit(NodeRef::WindowDef(child));
            }
        }
        NodeRef::JsonObjectAgg(n) => {
            let pb::JsonObjectAgg {
                constructor,
                arg,
                absent_on_null: _,
                unique: _,
            } = n;
            if let Some(child) = constructor {
                visit(NodeRef::JsonAggConstructor(child));
            }
            if let Some(child) = arg {
                visit(NodeRef::JsonKeyValue(child));
            }
        }
        NodeRef::JsonArrayAgg(n) => {
            let pb::JsonArrayAgg {
                constructor,
                arg,
                absent_on_null: _,
            } = n;
            if let Some(child) = constructor {
                visit(NodeRef::JsonAggConstructor(child));
            }
            if let Some(child) = arg {
                visit(NodeRef::JsonValueExpr(child));
            }
        }
        NodeRef::RtepermissionInfo(n) => {
            let pb::RtePermissionInfo {
                relid: _,
                inh: _,
                required_perms: _,
                check_as_user: _,
                selected_cols: _,
                inserted_cols: _,
                updated_cols: _,
            } = n;
        }
        NodeRef::WindowFuncRunCondition(n) => {
            let pb::WindowFuncRunCondition {
                xpr,
                opno: _,
                inputcollid: _,
                wfunc_left: _,
                arg,
            } = n;
            visit_one(xpr, visit);
            visit_one(arg, visit);
        }
        NodeRef::MergeSupportFunc(n) => {
            let pb::MergeSupportFunc {
                xpr,
                msftype: _,
                msfcollid: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
        }
        NodeRef::JsonBehavior(n) => {
            let pb::JsonBehavior {
                btype: _,
                expr,
                coerce: _,
                location: _,
            } = n;
            visit_one(expr, visit);
        }
        NodeRef::JsonExpr(n) => {
            let pb::JsonExpr {
                xpr,
                op: _,
                column_name: _,
                formatted_expr,
                format,
                path_spec,
                returning,
                passing_names,
                passing_values,
                on_empty,
                on_error,
                use_io_coercion: _,
                use_json_coercion: _,
                wrapper: _,
                omit_quotes: _,
                collation: _,
                location: _,
            } = n;
            visit_one(xpr, visit);
            visit_one(formatted_expr, visit);
            if let Some(child) = format {
                visit(NodeRef::JsonFormat(child));
            }
            visit_one(path_spec, visit);
            if let Some(child) = returning {
                visit(NodeRef::JsonReturning(child));
            }
            visit_all(passing_names, visit);
            visit_all(passing_values, visit);
            if let Some(child) = on_empty {
                visit(NodeRef::JsonBehavior(child));
            }
            if let Some(child) = on_error {
                visit(NodeRef::JsonBehavior(child));
            }
        }
        NodeRef::JsonTablePath(n) => {
            let pb::JsonTablePath { name: _ } = n;
        }
        NodeRef::JsonTablePathScan(n) => {
            let pb::JsonTablePathScan {
                plan,
                path,
                error_on_error: _,
                child,
                col_min: _,
                col_max: _,
            } = n;
            visit_one(plan, visit);
            if let Some(child) = path {
                visit(NodeRef::JsonTablePath(child));
            }
            visit_one(child, visit);
        }
        NodeRef::JsonTableSiblingJoin(n) => {
            let pb::JsonTableSiblingJoin { plan, lplan, rplan } = n;
            visit_one(plan, visit);
            visit_one(lplan, visit);
            visit_one(rplan, visit);
        }
        NodeRef::JsonArgument(n) => {
            let pb::JsonArgument { val, name: _ } = n;
            if let Some(child) = val {
                visit(NodeRef::JsonValueExpr(child));
            }
        }
        NodeRef::JsonFuncExpr(n) => {
            let pb::JsonFuncExpr {
                op: _,
                column_name: _,
                context_item,
                pathspec,
                passing,
                output,
                on_empty,
                on_error,
                wrapper: _,
                quotes: _,
                location: _,
            } = n;
            if let Some(child) = context_item {
                visit(NodeRef::JsonValueExpr(child));
            }
            visit_one(pathspec, visit);
            visit_all(passing, visit);
            if let Some(child) = output {
                visit(NodeRef::JsonOutput(child));
            }
            if let Some(child) = on_empty {
                visit(NodeRef::JsonBehavior(child));
            }
            if let Some(child) = on_error {
                visit(NodeRef::JsonBehavior(child));
            }
        }
        NodeRef::JsonTablePathSpec(n) => {
            let pb::JsonTablePathSpec {
                string,
                name: _,
                name_location: _,
                location: _,
            } = n;
            visit_one(string, visit);
        }
        NodeRef::JsonTable(n) => {
            let pb::JsonTable {
                context_item,
                pathspec,
                passing,
                columns,
                on_error,
                alias,
                lateral: _,
                location: _,
            } = n;
            if let Some(child) = context_item {
                visit(NodeRef::JsonValueExpr(child));
            }
            if let Some(child) = pathspec {
                visit(NodeRef::JsonTablePathSpec(child));
            }
            visit_all(passing, visit);
            visit_all(columns, visit);
            if let Some(child) = on_error {
                visit(NodeRef::JsonBehavior(child));
            }
            if let Some(child) = alias {
                visit(NodeRef::Alias(child));
            }
        }
        NodeRef::JsonTableColumn(n) => {
            let pb::JsonTableColumn {
                coltype: _,
                name: _,
                type_name,
                pathspec,
                format,
                wrapper: _,
                quotes: _,
                columns,
                on_empty,
                on_error,
                location: _,
            } = n;
            if let Some(child) = type_name {
                visit(NodeRef::TypeName(child));
            }
            if let Some(child) = pathspec {
                visit(NodeRef::JsonTablePathSpec(child));
            }
            if let Some(child) = format {
                visit(NodeRef::JsonFormat(child));
            }
            visit_all(columns, visit);
            if let Some(child) = on_empty {
                visit(NodeRef::JsonBehavior(child));
            }
            if let Some(child) = on_error {
                visit(NodeRef::JsonBehavior(child));
            }
        }
        NodeRef::JsonParseExpr(n) => {
            let pb::JsonParseExpr {
                expr,
                output,
                unique_keys: _,
                location: _,
            } = n;
            if let Some(child) = expr {
                visit(NodeRef::JsonValueExpr(child));
            }
            if let Some(child) = output {
                visit(NodeRef::JsonOutput(child));
            }
        }
        NodeRef::JsonScalarExpr(n) => {
            let pb::JsonScalarExpr {
                expr,
                output,
                location: _,
            } = n;
            visit_one(expr, visit);
            if let Some(child) = output {
                visit(NodeRef::JsonOutput(child));
            }
        }
        NodeRef::JsonSerializeExpr(n) => {
            let pb::JsonSerializeExpr {
                expr,
                output,
                location: _,
            } = n;
            if let Some(child) = expr {
                visit(NodeRef::JsonValueExpr(child));
            }
            if let Some(child) = output {
                visit(NodeRef::JsonOutput(child));
            }
        }
    }
}

/// The address of the message `node` refers to: the identity the walk uses to recognise a
/// child that its parent has already accounted for (a write target, a CTE body).
pub(super) fn address(node: NodeRef<'_>) -> usize {
    match node {
        NodeRef::Alias(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RangeVar(n) => std::ptr::from_ref(n).addr(),
        NodeRef::TableFunc(n) => std::ptr::from_ref(n).addr(),
        NodeRef::Var(n) => std::ptr::from_ref(n).addr(),
        NodeRef::Param(n) => std::ptr::from_ref(n).addr(),
        NodeRef::Aggref(n) => std::ptr::from_ref(n).addr(),
        NodeRef::GroupingFunc(n) => std::ptr::from_ref(n).addr(),
        NodeRef::WindowFunc(n) => std::ptr::from_ref(n).addr(),
        NodeRef::SubscriptingRef(n) => std::ptr::from_ref(n).addr(),
        NodeRef::FuncExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::NamedArgExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::OpExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::DistinctExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::NullIfExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ScalarArrayOpExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::BoolExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::SubLink(n) => std::ptr::from_ref(n).addr(),
        NodeRef::SubPlan(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlternativeSubPlan(n) => std::ptr::from_ref(n).addr(),
        NodeRef::FieldSelect(n) => std::ptr::from_ref(n).addr(),
        NodeRef::FieldStore(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RelabelType(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CoerceViaIo(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ArrayCoerceExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ConvertRowtypeExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CollateExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CaseExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CaseWhen(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CaseTestExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ArrayExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RowExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RowCompareExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CoalesceExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::MinMaxExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::SqlvalueFunction(n) => std::ptr::from_ref(n).addr(),
        NodeRef::XmlExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::NullTest(n) => std::ptr::from_ref(n).addr(),
        NodeRef::BooleanTest(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CoerceToDomain(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CoerceToDomainValue(n) => std::ptr::from_ref(n).addr(),
        NodeRef::SetToDefault(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CurrentOfExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::NextValueExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::InferenceElem(n) => std::ptr::from_ref(n).addr(),
        NodeRef::TargetEntry(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RangeTblRef(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JoinExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::FromExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::OnConflictExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::IntoClause(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RawStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::Query(n) => std::ptr::from_ref(n).addr(),
        NodeRef::InsertStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::DeleteStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::UpdateStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::SelectStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterTableStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterTableCmd(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterDomainStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::SetOperationStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::GrantStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::GrantRoleStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterDefaultPrivilegesStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ClosePortalStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ClusterStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CopyStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::DefineStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::DropStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::TruncateStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CommentStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::FetchStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::IndexStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateFunctionStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterFunctionStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::DoStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RenameStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RuleStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::NotifyStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ListenStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::UnlistenStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::TransactionStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ViewStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::LoadStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateDomainStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreatedbStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::DropdbStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::VacuumStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ExplainStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateTableAsStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateSeqStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterSeqStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::VariableSetStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::VariableShowStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::DiscardStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateTrigStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreatePlangStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateRoleStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterRoleStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::DropRoleStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::LockStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ConstraintsSetStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ReindexStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CheckPointStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateSchemaStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterDatabaseStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterDatabaseSetStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterRoleSetStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateConversionStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateCastStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateOpClassStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateOpFamilyStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterOpFamilyStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::PrepareStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ExecuteStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::DeallocateStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::DeclareCursorStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateTableSpaceStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::DropTableSpaceStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterObjectDependsStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterObjectSchemaStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterOwnerStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterOperatorStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterTypeStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AtalterConstraint(n) => std::ptr::from_ref(n).addr(),
        NodeRef::DropOwnedStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ReassignOwnedStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CompositeTypeStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateEnumStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateRangeStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterEnumStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterTsdictionaryStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterTsconfigurationStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateFdwStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterFdwStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateForeignServerStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterForeignServerStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateUserMappingStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterUserMappingStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::DropUserMappingStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterTableSpaceOptionsStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterTableMoveAllStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::SecLabelStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateForeignTableStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ImportForeignSchemaStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateExtensionStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterExtensionStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterExtensionContentsStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateEventTrigStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterEventTrigStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RefreshMatViewStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ReplicaIdentityStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterSystemStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreatePolicyStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterPolicyStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateTransformStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateAmStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreatePublicationStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterPublicationStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateSubscriptionStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterSubscriptionStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::DropSubscriptionStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateStatsStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterCollationStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CallStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterStatsStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ColumnRef(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ParamRef(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AConst(n) => std::ptr::from_ref(n).addr(),
        NodeRef::FuncCall(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AStar(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AIndices(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AIndirection(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AArrayExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ResTarget(n) => std::ptr::from_ref(n).addr(),
        NodeRef::MultiAssignRef(n) => std::ptr::from_ref(n).addr(),
        NodeRef::TypeCast(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CollateClause(n) => std::ptr::from_ref(n).addr(),
        NodeRef::SortBy(n) => std::ptr::from_ref(n).addr(),
        NodeRef::WindowDef(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RangeSubselect(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RangeFunction(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RangeTableSample(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RangeTableFunc(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RangeTableFuncCol(n) => std::ptr::from_ref(n).addr(),
        NodeRef::TypeName(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ColumnDef(n) => std::ptr::from_ref(n).addr(),
        NodeRef::IndexElem(n) => std::ptr::from_ref(n).addr(),
        NodeRef::Constraint(n) => std::ptr::from_ref(n).addr(),
        NodeRef::DefElem(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RangeTblEntry(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RangeTblFunction(n) => std::ptr::from_ref(n).addr(),
        NodeRef::TableSampleClause(n) => std::ptr::from_ref(n).addr(),
        NodeRef::WithCheckOption(n) => std::ptr::from_ref(n).addr(),
        NodeRef::SortGroupClause(n) => std::ptr::from_ref(n).addr(),
        NodeRef::GroupingSet(n) => std::ptr::from_ref(n).addr(),
        NodeRef::WindowClause(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ObjectWithArgs(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AccessPriv(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CreateOpClassItem(n) => std::ptr::from_ref(n).addr(),
        NodeRef::TableLikeClause(n) => std::ptr::from_ref(n).addr(),
        NodeRef::FunctionParameter(n) => std::ptr::from_ref(n).addr(),
        NodeRef::LockingClause(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RowMarkClause(n) => std::ptr::from_ref(n).addr(),
        NodeRef::XmlSerialize(n) => std::ptr::from_ref(n).addr(),
        NodeRef::WithClause(n) => std::ptr::from_ref(n).addr(),
        NodeRef::InferClause(n) => std::ptr::from_ref(n).addr(),
        NodeRef::OnConflictClause(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CommonTableExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RoleSpec(n) => std::ptr::from_ref(n).addr(),
        NodeRef::TriggerTransition(n) => std::ptr::from_ref(n).addr(),
        NodeRef::PartitionElem(n) => std::ptr::from_ref(n).addr(),
        NodeRef::PartitionSpec(n) => std::ptr::from_ref(n).addr(),
        NodeRef::PartitionBoundSpec(n) => std::ptr::from_ref(n).addr(),
        NodeRef::PartitionRangeDatum(n) => std::ptr::from_ref(n).addr(),
        NodeRef::PartitionCmd(n) => std::ptr::from_ref(n).addr(),
        NodeRef::VacuumRelation(n) => std::ptr::from_ref(n).addr(),
        NodeRef::InlineCodeBlock(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CallContext(n) => std::ptr::from_ref(n).addr(),
        NodeRef::Integer(n) => std::ptr::from_ref(n).addr(),
        NodeRef::Float(n) => std::ptr::from_ref(n).addr(),
        NodeRef::Boolean(n) => std::ptr::from_ref(n).addr(),
        NodeRef::String(n) => std::ptr::from_ref(n).addr(),
        NodeRef::BitString(n) => std::ptr::from_ref(n).addr(),
        NodeRef::List(n) => std::ptr::from_ref(n).addr(),
        NodeRef::IntList(n) => std::ptr::from_ref(n).addr(),
        NodeRef::OidList(n) => std::ptr::from_ref(n).addr(),
        NodeRef::MergeStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::MergeAction(n) => std::ptr::from_ref(n).addr(),
        NodeRef::AlterDatabaseRefreshCollStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ReturnStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ReturningClause(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ReturningExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::ReturningOption(n) => std::ptr::from_ref(n).addr(),
        NodeRef::PlassignStmt(n) => std::ptr::from_ref(n).addr(),
        NodeRef::StatsElem(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CtesearchClause(n) => std::ptr::from_ref(n).addr(),
        NodeRef::CtecycleClause(n) => std::ptr::from_ref(n).addr(),
        NodeRef::MergeWhenClause(n) => std::ptr::from_ref(n).addr(),
        NodeRef::PublicationObjSpec(n) => std::ptr::from_ref(n).addr(),
        NodeRef::PublicationTable(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonFormat(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonReturning(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonValueExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonConstructorExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonIsPredicate(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonOutput(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonKeyValue(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonObjectConstructor(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonArrayConstructor(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonArrayQueryConstructor(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonAggConstructor(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonObjectAgg(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonArrayAgg(n) => std::ptr::from_ref(n).addr(),
        NodeRef::RtepermissionInfo(n) => std::ptr::from_ref(n).addr(),
        NodeRef::WindowFuncRunCondition(n) => std::ptr::from_ref(n).addr(),
        NodeRef::MergeSupportFunc(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonBehavior(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonTablePath(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonTablePathScan(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonTableSiblingJoin(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonArgument(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonFuncExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonTablePathSpec(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonTable(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonTableColumn(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonParseExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonScalarExpr(n) => std::ptr::from_ref(n).addr(),
        NodeRef::JsonSerializeExpr(n) => std::ptr::from_ref(n).addr(),
    }
}

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
