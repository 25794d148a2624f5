/**
 * The semver functions the rules and publish use, imported one by one:
 * semver's index loads all of semver, whose range helpers build comparators
 * when they load (~3 ms of every lint's start-up).
 */
import parse from 'semver/functions/parse.js';
import satisfies from 'semver/functions/satisfies.js';
import valid from 'semver/functions/valid.js';
import validRange from 'semver/ranges/valid.js';

export { parse, satisfies, valid, validRange };
