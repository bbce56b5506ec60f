//! `medigan search`, `medigan rank` and `medigan lookup`: the model selector.

use std::process::ExitCode;

use anyhow::Context;
use medigan::Generators;
use medigan::search::{KeywordQuery, Order, RankedModel};
use serde_json::Value;

use crate::cli::{LookupArgs, RankArgs, SearchArgs};
use crate::render;
use crate::settings::{self, Output};

/// `medigan search VALUE... [--op] [--keys] [--case-sensitive] [--rank METRIC [--asc|--desc]]`.
pub fn search(generators: &Generators, args: &SearchArgs, out: Output) -> anyhow::Result<ExitCode> {
    let query = KeywordQuery {
        values: args.values.clone(),
        operator: args.op.parse().map_err(medigan::Error::from)?,
        match_keys: args.keys,
        case_sensitive: args.case_sensitive,
    };
    match &args.rank {
        Some(metric) => {
            let order = parse_order(settings::order_name(args.order))?;
            let ranked = generators.find_models_and_rank(&query, metric, order)?;
            print_ranking(generators, &ranked, metric, out)
        }
        None => {
            let found = generators.find_matching_models_by_values(&query)?;
            print_models(generators, &found, out)
        }
    }
}

/// `medigan rank METRIC [--asc|--desc] [--models ID...]`.
pub fn rank(generators: &Generators, args: &RankArgs, out: Output) -> anyhow::Result<ExitCode> {
    let order = parse_order(settings::order_name(args.order))?;
    let ranked =
        generators.rank_models_by_performance(args.models.as_deref(), &args.metric, order)?;
    print_ranking(generators, &ranked, &args.metric, out)
}

/// `medigan lookup KEY VALUE [--case-sensitive]`.
pub fn lookup(generators: &Generators, args: &LookupArgs, out: Output) -> anyhow::Result<ExitCode> {
    let found =
        generators.get_models_by_key_value_pair(&args.key, &args.value, args.case_sensitive)?;
    print_models(generators, &found, out)
}

fn parse_order(name: &str) -> anyhow::Result<Order> {
    name.parse()
        .map_err(medigan::Error::from)
        .context("invalid order")
}

fn print_models(generators: &Generators, ids: &[String], out: Output) -> anyhow::Result<ExitCode> {
    if out.json {
        render::json(&ids)?;
        return super::success();
    }
    let catalog = generators.catalog()?;
    let mut table = render::table(&["model", "type", "modality", "generates", "runtime"]);
    for entry in ids.iter().filter_map(|id| catalog.get(id)) {
        table.add_row(super::list::summary_row(entry));
    }
    render::print_table(&table, "No model matches.")?;
    super::success()
}

fn print_ranking(
    generators: &Generators,
    ranked: &[RankedModel],
    metric: &str,
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
    render::print_table(&table, &format!("No model has the metric `{metric}`."))?;
    super::success()
}

fn metric_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
