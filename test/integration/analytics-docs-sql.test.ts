// Every SQL recipe of docs/analytics.md, its placeholders filled in, runs on the hand-made history
// (test/helpers/analytics-history.ts) and returns the figures worked out in test/helpers/analytics-recipes.ts.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useAnalyticsHistoryDatabase } from '../helpers/analytics-history.js';
import { fillRecipe, RECIPE_CASES, RECIPES } from '../helpers/analytics-recipes.js';
import { DATABASE_KIND } from '../helpers/database.js';
import { plainRows } from '../helpers/sql-values.js';

const history = useAnalyticsHistoryDatabase();

describe(`docs/analytics.md recipes (${DATABASE_KIND})`, () => {
  it('has at least ten recipes, each with expected figures here', () => {
    expect(RECIPES.length).toBeGreaterThanOrEqual(10);
    expect(RECIPES.map((r) => r.name).sort()).toEqual(Object.keys(RECIPE_CASES).sort());
  });

  for (const [name, { params, expected }] of Object.entries(RECIPE_CASES)) {
    it(`recipe ${name}`, async () => {
      const recipe = RECIPES.find((r) => r.name === name);
      expect(recipe, `docs/analytics.md has no recipe ${name}`).toBeDefined();
      const { rows } = await sql
        .raw<Record<string, unknown>>(fillRecipe(recipe!.text, params))
        .execute(history.database.db);
      expect(plainRows(rows)).toEqual(expected);
    });
  }
});
