// tap's 'before': see path-for-nobody.ts.
import { grantSearch } from './path-for-nobody.js';

grantSearch();
