// tap's 'after': see path-for-nobody.ts.
import { restoreSearch } from './path-for-nobody.js';

restoreSearch();
