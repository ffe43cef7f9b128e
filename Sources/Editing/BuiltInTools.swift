import Foundation

/// The editing tools built into the suite, selectable by id in experiments and on the command line.
let builtInEditingTools: [any EditingTool] = []
