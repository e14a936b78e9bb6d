/**
 * The table type of the kit: an arquero table, as every arquero verb returns it. Experiments build tables of
 * results and the notebook layer shows and saves them; both name the type from here, so experiments/ needs
 * nothing from notebook/.
 */
import type * as aq from "arquero";

/** An arquero table (the type every arquero verb returns). */
export type Table = aq.ColumnTable;
