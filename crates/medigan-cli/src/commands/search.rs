//! `medigan search`, `medigan rank` and `medigan lookup`: the model selector.

use std::process::ExitCode;

use medigan::Generators;
use medigan::search::{KeywordQuery, RankedModel};
use serde_json::Value;

use crate::cli::{LookupArgs, RankArgs, SearchArgs};
use crate::render;
use crate::settings::Output;

/// `medigan search VALUE... [--op] [--keys] [--case-sensitive] [--rank METRIC [--asc|--desc]]`.
pub fn search(generators: &Generators, args: &SearchArgs, out: Output) -> anyhow::Result<ExitCode> {
    let query = KeywordQuery {
        values: args.values.clone(),
        operator: args.op,
        match_keys: args.keys,
        case_sensitive: args.case_sensitive,
    };
    match &args.rank {
        Some(metric) => {
            let order = args.order.order();
            let ranked = generators.find_models_and_rank(&query, metric, order)?;
            let empty = match ranked.is_empty() {
                true => no_ranking_reason(generators, &query, metric)?,
                false => String::new(),
            };
            print_ranking(generators, &ranked, metric, &empty, out)
        }
        None => {
            let found = generators.find_matching_models_by_values(&query)?;
            let empty = no_match_reason(generators, &query)?;
            print_models(generators, &found, &empty, out)
        }
    }
}

/// Why a search matched nothing: the query, against how many models.
fn no_match_reason(generators: &Generators, query: &KeywordQuery) -> anyhow::Result<String> {
    let models = generators.catalog()?.len();
    Ok(format!(
        "No model matches {} (op {}) among the {models} models of the catalogue; `medigan list` shows them, `--keys` also matches field names.",
        quoted(&query.values),
        query.operator
    ))
}

/// Why a ranked search is empty: the query matched nothing, or no match has the metric.
fn no_ranking_reason(
    generators: &Generators,
    query: &KeywordQuery,
    metric: &str,
) -> anyhow::Result<String> {
    let matched = generators.find_matching_models_by_values(query)?;
    if matched.is_empty() {
        return no_match_reason(generators, query);
    }
    Ok(format!(
        "{} model(s) match {}, but none of them has the metric `{metric}`; `medigan info MODEL` shows a model's metrics.",
        matched.len(),
        quoted(&query.values)
    ))
}

fn quoted(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
    quoted.join(" ")
}

/// `medigan rank METRIC [--asc|--desc] [--models ID...]`.
pub fn rank(generators: &Generators, args: &RankArgs, out: Output) -> anyhow::Result<ExitCode> {
    let order = args.order.order();
    let ranked =
        generators.rank_models_by_performance(args.models.as_deref(), &args.metric, order)?;
    let among = match &args.models {
        Some(ids) => format!("{} model(s) given", ids.len()),
        None => format!("{} models of the catalogue", generators.catalog()?.len()),
    };
    let empty = format!("None of the {among} has the metric `{}`.", args.metric);
    print_ranking(generators, &ranked, &args.metric, &empty, out)
}

/// `medigan lookup KEY VALUE [--case-sensitive]`.
pub fn lookup(generators: &Generators, args: &LookupArgs, out: Output) -> anyhow::Result<ExitCode> {
    let found =
        generators.get_models_by_key_value_pair(&args.key, &args.value, args.case_sensitive)?;
    let empty = format!(
        "No model has `{}` = `{}` in its selection.",
        args.key, args.value
    );
    print_models(generators, &found, &empty, out)
}

fn print_models(
    generators: &Generators,
    ids: &[String],
    empty: &str,
    out: Output,
) -> anyhow::Result<ExitCode> {
    if out.json {
        render::json(&ids)?;
        return super::success();
    }
    let catalog = generators.catalog()?;
    let mut table = render::table(&["model", "type", "modality", "generates", "runtime"]);
    for entry in ids.iter().filter_map(|id| catalog.get(id)) {
        table.add_row(super::list::summary_row(entry));
    }
    render::print_table(&table, empty)?;
    super::success()
}

fn print_ranking(
    generators: &Generators,
    ranked: &[RankedModel],
    metric: &str,
    empty: &str,
    out: Output,
) -> anyhow::Result<ExitCode> {
    if out.json {
        let rows: Vec<Value> = ranked.iter().map(|r| r.to_json(metric)).collect();
        render::json(&rows)?;
        return super::success();
    }
    let catalog = generators.catalog()?;
    let mut table = render::table(&["rank", "model", metric, "title"]);
    for (position, model) in ranked.iter().enumerate() {
        let title = catalog.get(&model.model_id).map_or(String::new(), |e| {
            render::shorten(&e.metadata.description.title, 56)
        });
        table.add_row(vec![
            (position + 1).to_string(),
            model.model_id.clone(),
            metric_text(&model.value),
            title,
        ]);
    }
    render::print_table(&table, empty)?;
    super::success()
}

fn metric_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
