"""Published reference data shipped with hwsearch, each file naming its source."""
