-- A lot's rate plan (docs/pricing.md): ordered, readable rules that price a stay. Null: the lot is
-- priced by its `rates` card alone (hourly per started 15 minutes, daily maximum), exactly as before.
alter table lots add column rate_plan jsonb;
