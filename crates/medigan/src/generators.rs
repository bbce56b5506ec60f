//! The `Generators` facade: one struct through which a user reaches every capability.
//!
//! Like the paper's `generators` module it loads lazily: nothing is read or fetched until a
//! method needs it, and what was loaded is kept for later calls.

use std::sync::OnceLock;

use crate::catalog::{self, Catalog, CatalogSettings, ModelEntry};
use crate::error::Result;
use crate::home::Home;
use crate::search::{self, KeywordQuery, Order, RankedModel};

/// Settings of a [`Generators`] instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The medigan home (cache directory).
    pub home: Home,
    /// Which catalogues to read.
    pub catalog: CatalogSettings,
    /// Never touch the network (`MEDIGAN_OFFLINE=1`).
    pub offline: bool,
}

impl Settings {
    /// Settings from the environment: `MEDIGAN_HOME`, `MEDIGAN_CATALOG`, `MEDIGAN_CATALOG_URL`,
    /// `MEDIGAN_OFFLINE`.
    pub fn from_env() -> Self {
        let offline = std::env::var("MEDIGAN_OFFLINE")
            .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"));
        let mut catalog = CatalogSettings::from_env();
        catalog.offline = offline;
        Settings {
            home: Home::resolve(None),
            catalog,
            offline,
        }
    }
}

/// The single point of access to medigan: catalogue, search, ranking, generation.
#[derive(Debug)]
pub struct Generators {
    settings: Settings,
    catalog: OnceLock<Catalog>,
}

impl Generators {
    /// A facade with the given settings; nothing is loaded yet.
    pub fn new(settings: Settings) -> Self {
        Generators {
            settings,
            catalog: OnceLock::new(),
        }
    }

    /// A facade configured from the environment (see [`Settings::from_env`]).
    pub fn from_env() -> Self {
        Generators::new(Settings::from_env())
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The merged catalogue, loaded on first use.
    pub fn catalog(&self) -> Result<&Catalog> {
        if let Some(catalog) = self.catalog.get() {
            return Ok(catalog);
        }
        let loaded = catalog::source::load(&self.settings.catalog, &self.settings.home)?;
        Ok(self.catalog.get_or_init(|| loaded))
    }

    /// The ids of all models, in catalogue order.
    pub fn list_models(&self) -> Result<Vec<String>> {
        Ok(self.catalog()?.ids().map(String::from).collect())
    }

    /// The entry of a model given by full id, number or unique prefix.
    pub fn get_config_by_id(&self, model_id: &str) -> Result<&ModelEntry> {
        Ok(self.catalog()?.resolve(model_id)?)
    }

    /// Models whose selection metadata has the query's values (the original
    /// `find_matching_models_by_values`), in catalogue order.
    pub fn find_matching_models_by_values(&self, query: &KeywordQuery) -> Result<Vec<String>> {
        let catalog = self.catalog()?;
        Ok(owned(search::find_matching(catalog.selections(), query)))
    }

    /// Models ranked by a metric path below `selection.performance` (the original
    /// `rank_models_by_performance`); `model_ids` (ids, numbers or prefixes) restricts the
    /// ranking to those models.
    pub fn rank_models_by_performance(
        &self,
        model_ids: Option<&[String]>,
        metric: &str,
        order: Order,
    ) -> Result<Vec<RankedModel>> {
        let catalog = self.catalog()?;
        let restrict = model_ids.map(|ids| self.resolve_known(ids)).transpose()?;
        Ok(search::rank(
            catalog.selections(),
            metric,
            order,
            restrict.as_deref(),
        )?)
    }

    /// Keyword search, then ranking of the models found (the original `find_models_and_rank`).
    pub fn find_models_and_rank(
        &self,
        query: &KeywordQuery,
        metric: &str,
        order: Order,
    ) -> Result<Vec<RankedModel>> {
        let catalog = self.catalog()?;
        Ok(search::find_and_rank(
            catalog.selections(),
            query,
            metric,
            order,
        )?)
    }

    /// Models whose selection field at the dotted `key` path has `value` (the original
    /// `get_models_by_key_value_pair`).
    pub fn get_models_by_key_value_pair(
        &self,
        key: &str,
        value: &str,
        case_sensitive: bool,
    ) -> Result<Vec<String>> {
        let catalog = self.catalog()?;
        Ok(owned(search::find_by_key_value(
            catalog.selections(),
            key,
            value,
            case_sensitive,
        )))
    }

    /// The selection metadata of one model (the original `get_selection_criteria_by_id`).
    pub fn get_selection_criteria_by_id(&self, model_id: &str) -> Result<&serde_json::Value> {
        Ok(&self.get_config_by_id(model_id)?.selection_json)
    }

    /// The selection keys of one model, or of all models (the original `get_selection_keys`).
    pub fn get_selection_keys(&self, model_id: Option<&str>) -> Result<Vec<String>> {
        let catalog = self.catalog()?;
        let keys = match model_id {
            Some(id) => {
                let entry = catalog.resolve(id)?;
                search::selection_keys([(entry.id.as_str(), &entry.selection_json)])
            }
            None => search::selection_keys(catalog.selections()),
        };
        Ok(owned(keys))
    }

    /// The values found under a selection key, for one model or all models (the original
    /// `get_selection_values_for_key`).
    pub fn get_selection_values_for_key(
        &self,
        key: &str,
        model_id: Option<&str>,
    ) -> Result<Vec<serde_json::Value>> {
        let catalog = self.catalog()?;
        let values = match model_id {
            Some(id) => {
                let entry = catalog.resolve(id)?;
                search::selection_values_for_key([(entry.id.as_str(), &entry.selection_json)], key)
            }
            None => search::selection_values_for_key(catalog.selections(), key),
        };
        Ok(values.into_iter().cloned().collect())
    }

    /// Resolves user-given ids (numbers, prefixes) to full ids; ids matching no model are kept
    /// as given so that ranking ignores them, as the original does.
    fn resolve_known(&self, ids: &[String]) -> Result<Vec<String>> {
        let catalog = self.catalog()?;
        Ok(ids
            .iter()
            .map(|id| {
                catalog
                    .resolve(id)
                    .map_or_else(|_| id.clone(), |e| e.id.clone())
            })
            .collect())
    }
}

fn owned(ids: Vec<&str>) -> Vec<String> {
    ids.into_iter().map(String::from).collect()
}
