"""Vocabularies of the report language engine: data, not code.

Every lexicon is a list of regular-expression fragments over *lower-cased* text; :func:`alternation` turns a
lexicon into one alternation (longest fragment first, so ``"pleural effusion"`` wins over ``"effusion"``), and each
consumer compiles exactly one combined regex per lexicon.

Mention rules (the rules the gold set in ``tests/data/gold_openi.csv`` follows):

* ``MENTIONS`` maps a CheXpert class to phrases that name the finding directly ("pneumothorax", "infiltrate").
* ``ANATOMY`` maps the two size classes to anatomy words ("heart size", "mediastinum") that only become a mention
  together with a size cue in ``SIZE_CUES`` in the same clause ("heart size is normal" -> Cardiomegaly negative,
  "the mediastinum is widened" -> Enlarged Cardiomediastinum positive, "upper limits of normal" -> uncertain).
* ``IGNORE`` phrases are consumed first so that they never count ("pericardial effusion", "lytic lesion").
* Calcified granulomas, scarring, emphysema, hyperinflation and degenerative spine disease are outside the 14
  classes and are not mentions.
"""

from __future__ import annotations

from cxrvlp.types import CHEXPERT_CLASSES

FINDINGS: tuple[str, ...] = tuple(c for c in CHEXPERT_CLASSES if c != "No Finding")
"""The 13 classes with mentions of their own; "No Finding" is derived from them (CheXpert's rule)."""

_S = r"(?:s|es)?"  # optional plural

MENTIONS: dict[str, list[str]] = {
    "Enlarged Cardiomediastinum": [
        r"enlarged cardiomediastin\w*(?: silhouette| contours?)?",
        r"widened (?:superior )?mediastinum",
        r"(?:superior )?mediastinal (?:widening|enlargement)",
        r"widening of the (?:superior )?mediastinum",
        r"enlarged mediastin\w*(?: silhouette| contours?)?",
        r"cardiomediastinal enlargement",
        r"mediastinal mass(?:es)?",  # no lung lesion
    ],
    "Cardiomegaly": [
        r"cardiomegaly",
        r"enlarged (?:heart|cardiac silhouette)",
        r"cardiac enlargement",
        r"enlargement of the (?:heart|cardiac silhouette)",
        r"cardiac hypertrophy",
        r"(?:right |left |bi)?(?:atrial|ventricular) (?:enlargement|hypertrophy|dilatation)",
        r"(?:right and left |left and right )?atrial enlargement",
        r"enlarged (?:right |left )?(?:atri(?:um|a)|ventricles?)",
        r"(?:enlarged|enlargement of the) (?:right |left )?atrial appendage",
        r"elongat(?:ed|ion of the) left ventric\w*",
        r"increased (?:heart|cardiac) size",
        r"increase in (?:the )?(?:heart|cardiac) size",
        r"(?:increased|enlarged) cardiothoracic ratio",
        r"cardiothoracic ratio (?:is )?(?:mildly |moderately |slightly )?(?:increased|enlarged)",
        r"(?:left |right )?ventricular prominence",
        r"prominen(?:t|ce of the) (?:left |right )?ventric\w* (?:contour|border|silhouette|convexity)",
    ],
    "Lung Opacity": [
        r"opacit(?:y|ies)",
        r"opacification",
        r"opacified",
        r"infiltrat(?:e|es|ion|ive)",
        r"air ?space (?:disease|process|opacit(?:y|ies))",
        r"densit(?:y|ies)",
        r"haziness",
        r"hazy",
        r"streakiness",
        r"stranding",
        r"ground[- ]glass",
        r"reticul(?:ar|onodular)(?: markings| opacit(?:y|ies)| changes)?",
        r"interstitial (?:markings?|prominence|disease|changes|thickening|pattern|opacit(?:y|ies)|process)",
        r"interstitial pulmonary (?:pattern|markings?|opacit(?:y|ies))",
        r"interstitial(?= nodular (?:opacit|densit))",
        r"air ?space (?:abnormalit(?:y|ies)|changes?|infiltrates?)",
        r"interstitial(?= (?:and|or) (?:\w+ ){0,3}(?:air ?space |alveolar )?opacit)",
        r"pleural[- ]?parenchymal opacit(?:y|ies)",
        r"(?:prominent|increased|coarse(?:ned)?|accentuated|thickened|indistinct) (?:pulmonary )?interstitium",
        r"(?:prominen(?:ce|t)|accentuation|thickening) of (?:the )?(?:pulmonary )?interstitium",
        r"interstitium (?:is |are |appears? |remains? )?(?:\w+ )?(?:prominent|accentuated|coarse(?:ned)?|thickened)",
        r"infectious infiltrates?",
        r"(?:increased|increase in|prominent|prominence of(?: the)?|coarse(?:ned)?|coarsening of(?: the)?|"
        r"accentuated|accentuation of(?: the)?) (?:(?!(?:broncho)?vascular\b|and\b|the\b|with\b)[\w-]+ ){0,2}markings",
        r"opaque (?:area|region|focus|foci)",
        r"(?:lobe|lung|hemithorax|base|lingula) (?:is |are |appears? |remains? )?(?:totally |completely |partially |"
        r"mostly |more |diffusely )?opaque",
    ],
    "Lung Lesion": [
        r"nodul(?:e|es|ar|arity)",
        r"nodular (?:densit(?:y|ies)|opacit(?:y|ies))",
        r"mass" + _S,
        r"lesion" + _S,
        r"tumou?r" + _S,
        r"neoplasm" + _S,
        r"carcinoma",
        r"malignanc(?:y|ies)",
        r"metasta(?:sis|ses|tic disease)",
        r"cavitary lesion" + _S,
        r"aspergillomas?",
        r"mycetomas?",
        r"fungus balls?",
        r"cavitation" + _S,
        r"mass-?like lesions?",
        r"cancers?",
        r"neoplastic (?:process|disease)",
        r"mass densit(?:y|ies)",
        r"mass lesion(?:s)?",  # longer than "mass(?:s|es)?" so that it wins
        r"cavitary (?:lung |pulmonary )?(?:changes?|process|disease)",
        r"(?<!pleural )(?<!thoracic )(?<!abdominal )(?<!oral )(?<!nasal )(?<!peritoneal )cavit(?:y|ies)",
    ],
    "Edema": [
        r"(?:pulmonary |interstitial |alveolar )?edema",
        r"(?:pulmonary )?(?:vascular )?congestion",
        r"(?:pulmonary )?(?:vascular )?congestive changes",
        r"(?:congestive )?(?:heart|cardiac) failure",
        r"(?<!respiratory )(?<!renal )(?<!kidney )(?<!liver )(?<!hepatic )(?<!organ )failure",  # "no failure"
        r"(?:central )?(?:pulmonary )?vascular prominence",
        r"chf",
        r"cephalization",
        r"(?:pulmonary )?vascular redistribution",
        r"(?:increased|prominent) (?:central )?(?:pulmonary |lung )?vascularity",
        r"(?:pulmonary )?(?:venous |vascular )engorgement",
        r"(?:pulmonary )?(?:venous|vascular) hypertension",
        r"engorged (?:pulmonary )?(?:vessels|vasculature|veins)",
        r"(?:fluid|volume) overload",
        r"(?:central )?pulmonary (?:xxxx|vessels|veins) (?:is |are |appears? |appear to be |remains? )?(?:mildly |"
        r"slightly |moderately )?(?:engorged|congested|distended|prominent)",
        r"kerley b",
        r"(?:central |pulmonary )?vascular markings (?:are |is |appear )?(?:mildly |slightly |moderately )?"
        r"(?:prominent|increased|accentuated)",
        r"prominen(?:t|ce of) (?:the )?(?:central )?(?:pulmonary |lung )?(?:vasculature|vascularity|vessels)",
        r"(?:pulmonary |lung )?(?:vasculature|vascularity) (?:is |are |appears? |remains? )?(?:mildly |slightly |"
        r"moderately |persistently |again |still )?(?:accentuated|prominent|engorged|congested|enlarged|distended)",
    ],
    "Consolidation": [r"consolidat(?:ion|ions|ed|ive|ing)"],
    "Pneumonia": [
        r"pneumonia" + _S,
        r"bronchopneumonia",
        r"pneumonitis",
        r"infectious (?:process|etiology)",
        r"infection" + _S,
        r"infectious infiltrates?",
        r"infectious(?= ?(?:,|or\b|and\b|/))",
    ],
    "Atelectasis": [
        r"atelecta(?:sis|ses|tic)",
        r"atelectatic (?:changes?|process|component)",
        r"collapsed (?:(?:right|left|upper|middle|lower|lingular) ){0,3}(?:lobes?|lung|segments?|lingula)",
        r"(?:lobar |lung |segmental )?collapse",
    ],
    "Pneumothorax": [
        r"pneumothora(?:x|ces|xes)",
        r"hydropneumothorax",
        r"hemopneumothorax",
        r"pleural air(?: collections?)?",
        r"(?:pleural )?air collections?"
        r"(?= (?:[\w-]+ ){0,8}?(?:in|within|at|along) (?:the )?(?:\w+ ){0,3}?(?:pleural|apex|apical|hemithorax))",
    ],
    "Pleural Effusion": [
        r"(?:pleural )?effusion" + _S,
        r"pleural fluid",
        r"hydropneumothorax",
        r"hemopneumothorax",
        r"hydrothorax",
        r"fluid (?:in|within|along) the (?:\w+ ){0,2}(?:fissures?|pleural spaces?)",
        r"(?:loculated|localized|subpulmonic) (?:pleural )?fluid",
        r"empyema",
    ],
    "Pleural Other": [
        r"pleural (?:thickening|plaques?|calcifications?|scarring)",
        r"(?=thickening)(?:(?<=effusion versus )|(?<=effusion vs )|(?<=effusion or )|(?<=effusions versus )|"
        r"(?<=effusions or )|(?<=fluid or )|(?<=fluid versus ))thickening",
        r"thickening(?= (?:or|versus|vs) (?:localized |loculated |small |pleural )*(?:fluid|effusions?)\b)",
        r"pleural[- ]?(?:parenchymal|peripheral) (?:scarring|thickening|irregularit(?:y|ies))",
        r"pleural abnormalit(?:y|ies)",
        r"pleural retraction",
        r"pleural[- ]based (?:process|abnormalit(?:y|ies)|thickening)",
        r"pleuroparenchymal (?:scarring|thickening|irregularit(?:y|ies)|opacit(?:y|ies))",
        r"calcified pleural plaques?",
        r"(?:(?:bi)?apical )?pleural capping",
        r"(?:bi)?apical capping",
        r"(?:scarring|thickening) (?:at|of|in|along) the (?:\w+ ){0,2}(?:costophrenic|cp) "
        r"(?:angles?|sulcus|sulci|xxxx|recess)",
        r"(?:costophrenic|cp) (?:angle |sulcus |xxxx )?(?:scarring|thickening)",
        r"scarring(?= (?:left|right|bilateral) (?:costophrenic|cp) (?:angles?|sulcus|sulci|xxxx|recess))",
        r"fibrothorax",
        r"thickening (?:of|in|along) the (?:[\w-]+ ){0,3}?fissures?",
        r"thickened (?:[\w-]+ ){0,2}?fissures?",
    ],
    "Fracture": [
        r"(?<!catheter )(?<!wire )(?<!wires )(?<!lead )(?<!xxxx is )(?<!xxxx are )(?<!wire is )(?<!wires are )"
        r"(?<!screw is )(?<!screws are )"
        r"fractur(?:e|es|ed)",
        r"broken (?:[\w-]+ ){0,2}(?:ribs?|clavicles?|scapulae?|humer\w*|sternum|vertebra\w*|bones?)",
        r"fx",
    ],
    "Support Devices": [
        r"pacemaker" + _S,
        r"pacer",
        r"(?:pacing|pacemaker) (?:leads?|wires?)",
        r"(?:a?icd|defibrillator)",
        r"catheter" + _S,
        r"portacath",
        r"port-?a-?cath",
        r"mediport",
        r"(?:picc|central venous|central|venous|arterial|dialysis|swan[- ]ganz) lines?",
        r"picc",
        r"(?:endotracheal|et|nasogastric|ng|og|orogastric|feeding|tracheostomy|enteric|chest|thoracostomy) tubes?",
        r"tracheostomy",
        r"(?:median )?sternotomy(?: wires?| sutures?)?",
        r"(?:surgical |vascular |cholecystectomy )?clips?",
        r"stents?",
        r"(?:prosthetic |mechanical |replacement )?(?:aortic |mitral )?valve replacement",
        r"(?:prosthetic|mechanical|bioprosthetic|porcine|artificial) (?:aortic |mitral |pulmonic |tricuspid |heart )?"
        r"valves?",
        r"(?:bone|suture|xxxx) anchors?",
        r"tips(?= (?:shunt|stent|catheter|procedure|(?:is |are )?(?:noted|seen|present|in place|identified)))",
        r"tips (?:shunt|stent|catheter)",
        r"xxxx(?= (?:intact )?without (?:acute )?complicating features)",
        r"(?:left|right)[- ]sided xxxx(?= ?(?:\.|$|without))",  # "a stable appearing left-sided XXXX."
        r"telemetry(?: leads?| wires?| pads?| devices?| xxxx)?",
        r"implant(?:ed|able) (?:cardiac |loop )?(?:\w+ )?(?:device|monitor|recorder|defibrillator|xxxx)s?",
        r"(?:orthopedic |spinal |fixation |fusion |surgical )?hardware",
        r"(?:cardiac |loop )?(?:monitor|recorder) device",
        r"(?:spinal |nerve |cord )?stimulator",
        r"neurostimulator",
        r"(?:atrial )?septal occluder",
        r"(?:ivc|pacing|pacer|pacemaker|orthopedic|fixation|surgical) xxxx",
        r"cardiac xxxx(?= (?:\w+ ){0,2}(?:project\w*|overl\w*|terminat\w*|tip))",
        r"prosthetic (?:right |left )?(?:shoulder|hip|knee|joint|humeral head)",
        r"(?:shoulder|hip|knee|joint) (?:replacement|prosthes\w*)",
        r"suture material",
        r"orif(?: hardware| xxxx| plate)?",
        r"tubing",
        r"(?:cardiac |pacemaker |pacer |battery )?generator",
        r"(?:support |medical |cardiac )?devices?",
        r"(?:cerclage |sternal |epicardial |pacing |sternotomy )wires?",
        r"(?:pacer|pacemaker|pacing|icd|aicd|defibrillator|cardiac|transvenous|monitor(?:ing)?|ecg|ekg) leads?",
        r"leads",
        r"lead (?:tip|terminat\w*|project\w*|overl\w*|extend\w*|in (?:the )?(?:right|expected|region))",
        r"(?:catheter |line |tube |xxxx |lead )?tips?(?= (?:\w+ ){0,4}(?:in|at|over|overlies|overlying|projects?|"
        r"projecting|terminat\w*|near|within|to|is|are|extends?|lies|located|positioned|appears?|which|of the|"
        r"approximat\w*|cours\w*|reach\w*|end\w*|into|has moved)\b)",
        r"(?:chest |infusion |venous |power |subcutaneous )?port(?:-a-cath)?s?",
        r"(?:surgical |skin )?staples",
        r"(?:fixation |orthopedic |surgical |metallic |compression )(?:plates?|screws?|rods?)",
        r"screw",
        r"screws",
        r"prosthes(?:is|es)",
        r"(?:breast |silicone |saline |penile )?implants",
        r"(?:breast|silicone|saline|penile) implant",
        r"(?:valve|fusion|stabilization|fixation|anchor|retention) xxxx",
        r"(?:(?:cervical|thoracic|lumbar|spinal|spine) )fusion (?:hardware|plates?|screws?|rods?|xxxx)",
        r"loop recorders?",
        r"(?:shoulder |humeral |total )?arthroplast(?:y|ies)",
        r"(?:gastric|lap(?:aroscopic)?) band",
        r"(?:intra-?aortic )?balloon pump",
        r"(?:rectal|esophageal) (?:balloon|tube|catheter)",
        r"electrodes?",
        r"(?:embolization )?coils?",
        r"(?:ivc|vena cava|greenfield) filter",
        r"tubes?",
        r"(?:right|left)(?:-sided| sided)? (?:internal jugular|ij|subclavian|chest wall|chest|arm|upper extremity) "
        r"(?:xxxx|line|catheter)",
        r"(?:picc|central|venous|dual lumen|triple lumen|hemodialysis) xxxx",
        r"xxxx-a-xxxx",
        r"xxxx(?= (?:(?:is|are|remains?) )?(?:terminat\w*|in (?:the )?(?:expected|satisfactory|good|appropriate|"
        r"unchanged|stable) (?:region|location|position|placement)))",
        r"cabg (?:markers|clips)",
        r"(?:surgical|postsurgical|postoperative) changes (?:of|from) (?:prior )?cabg",
        r"valve (?:artifact|prosthes\w*|surgery|repair)",
        r"drains?",
        r"shunt(?: catheter)?",
    ],
}
"""Direct mentions per class (regex fragments over lower-cased text, matched on word boundaries)."""

IGNORE: list[str] = [
    r"pericardial effusions?",
    r"joint effusions?",
    r"(?:lytic|blastic|sclerotic|osseous|bony|bone|skin|cutaneous|osteocartilaginous|cartilaginous|rib) "
    r"(?:lesions?|densit(?:y|ies))",
    r"(?:lytic|blastic|sclerotic|destructive) or (?:lytic|blastic|sclerotic|destructive) (?:osseous |bony )?lesions?",
    r"soft tissue densit(?:y|ies)",
    r"bone densit(?:y|ies)",
    r"(?:breast|nipple|soft tissue|axillary) (?:shadows?|densit(?:y|ies)|masses?)",
    r"axillary opacit(?:y|ies)",
    r"(?:chest wall|breast|soft tissue|subcutaneous|axillary|thyroid|neck) (?:masses|mass|lesions?|tumou?rs?|carcinoma|"
    r"malignanc(?:y|ies)|cancers?)",
    r"(?=cancer|carcinoma)(?:"
    + "|".join(
        f"(?<={organ} )"
        for organ in (
            "prostate",
            "prostatic",
            "thyroid",
            "colon",
            "colorectal",
            "rectal",
            "renal",
            "kidney",
            "ovarian",
            "bladder",
            "cervical",
            "pancreatic",
            "esophageal",
            "gastric",
            "skin",
            "neck",
            "uterine",
            "endometrial",
        )
    )
    + r")(?:cancers?|carcinomas?)",
    r"fractur(?:e|es)(?= of (?:the |a |an |one of the )?(?:[\w-]+ ){0,2}?(?:(?:sternotomy|sternal|cerclage) "
    r"(?:wires?|xxxx)|wires?|leads?|catheters?|hardware|screws?|plates?|rods?)\b)",
    r"nipple shadows?",
    r"pleural (?:densit(?:y|ies)|opacit(?:y|ies))",  # pleural, not lung: fluid or thickening, as the report goes on
    r"nodular (?:soft tissue |diaphragmatic )?contours?",
    r"pulmonary vascularity(?! (?:is |are |appears? |remains? )?(?:mildly |slightly |moderately |persistently |again |"
    r"still )?(?:accentuated|prominent|engorged|congested|enlarged|distended))",
    r"(?:granulomatous )?(?:infection|disease) sequela\w*",
    r"kerley lines?",
    r"(?:expansile |sclerotic |lytic )?lesions?(?= (?:of|in|involving|within) the (?:[\w-]+ ){0,3}?(?:ribs?|clavicles?|"
    r"scapulae?|humer\w*|vertebra\w*|spine|sternum|bones?)\b)",
    r"histoplasm\w*(?: (?:infection|exposure|disease))?",
    r"(?:old |prior |previous |remote |healed |chronic )*granulomatous (?:infection|disease|process)",
    r"sequela\w* of (?:an? )?(?:(?:old |prior |previous |remote |healed |chronic )+(?:granulomatous )?|"
    r"granulomatous )(?:infection|disease|inflammation)",
    r"(?:fractured|broken)(?= (?:\w+ ){0,2}(?:wires?|catheters?|leads?|xxxx|screws?|plates?|hardware|rods?))",
    r"leads? (?:to|me|us)",
    r"(?:pleural|skin ?fold|kerley|septal|fissure|azygoesophageal|paraspinal|paratracheal) lines?",
    r"(?:air|fluid)[- ]fluid levels?",
    r"(?:free|intraperitoneal|subdiaphragmatic|mediastinal|subcutaneous) air(?: collections?)?",
    r"portable",
    r"(?:right |left )?(?:paratracheal|paraspinal|prevascular) (?:densit(?:y|ies)|opacit(?:y|ies)|soft tissue)",
    r"(?:tip|apex) of the (?:lingula|lung|hemithorax)",
    r"(?:radio)?(?:densit(?:y|ies)|opacit(?:y|ies))(?=[^.;]{0,100}?\b(?:represent\w*|consistent with|"
    r"compatible with|suggest\w*(?: of)?|secondary to|due to|related to|reflect\w*|correspond\w*(?: to| with)?|"
    r"indicat\w*|likely|probably|from|possibl[ey]|appears?|(?:is|are) xxxx|(?<=, )xxxx) "
    r"(?:(?!and\b|pneumon|atelecta|consolidat|infiltrat|edema|scar|nodul|mass|infect)[\w'-]+ ){0,4}?"
    r"(?:(?:hiatal )?hernia|(?:lymph)?adenopathy|lymph nodes?|stents?|fat(?: pad)?|vessels?|vascular structures?|"
    r"granulom\w*|(?:atrial|ventricular) enlargement|osteophytes?|costochondral|summation|pericardial|thymus|aort\w*|"
    r"osseous|bony|foreign bod(?:y|ies)|chest wall|clothing|artifacts?|skin ?folds?|piercings?|jewelry|"
    r"superimposition|external|(?:mitral )?annul(?:ar|us) calcifi\w*|fragments?|projectiles?|bullets?|shrapnel|"
    r"(?:surgical )?clips?|vascular shadows?|pectus|(?:vascular|osseous|pleural) structures|nipple shadows?|"
    r"nipples?|telemetry|(?:rib |clavicle |clavicular )?fractures?|callus)\b)",
    r"nodular (?:densit(?:y|ies)|opacit(?:y|ies))(?=[^.;]{0,100}?\b(?:represent\w*|consistent with|compatible with|"
    r"due to|reflect\w*|likely|probably) (?:\w+ ){0,2}?(?:nipple|telemetry|ekg|ecg|monitor|artifact|(?:rib )?fracture|"
    r"callus|bone island))",
    # a density placed outside the lung: in the mediastinum, the AP window, the chest wall or soft tissues
    r"(?:radio)?(?:densit(?:y|ies)|opacit(?:y|ies))(?= (?:(?!lungs?\b|lobes?\b|bases?\b|lingula\b)[\w-]+ ){0,5}?"
    r"(?:within|in|of|at|surrounding) (?:the )?(?:(?!lungs?\b|lobes?\b)[\w-]+ ){0,3}?(?:subcutaneous|"
    r"soft tissues|chest wall|(?:anterior |superior |posterior |middle |upper |lower )?mediastinum|ap (?:window|xxxx)|"
    r"aortopulmonary window|cardiophrenic)\b)",
    r"(?:(?:right|left|anterior|superior|posterior|upper|lower) )*(?:mediastinal|substernal|retrosternal|subcutaneous) "
    r"(?:[\w-]+ )?(?:densit(?:y|ies)|opacit(?:y|ies))",
    r"infectious(?=(?: or [\w-]+)? (?:small )?airways? disease)",
    r"(?:radio)?(?:densit(?:y|ies)|opacit(?:y|ies))(?= (?:\w+ ){0,2}?foreign bod(?:y|ies))",
]
"""Phrases consumed before mention matching so that they never count."""

ANATOMY: dict[str, list[str]] = {
    "Cardiomegaly": [
        r"heart(?: size)?",
        r"cardiac (?:silhouette|size|contours?|shadow|border|borders)",
        r"cardiac(?! (?:silhouette|size|contours?|shadow|borders?|monitor\w*|devices?|pacemaker|pacer|leads?|"
        r"defibrillator|generator|valves?|surgery|stents?|catheter\w*|wires?|disease|findings?|abnormalit\w*))",
        r"heart shadow",
    ],
    "Enlarged Cardiomediastinum": [
        r"mediastinum",
        r"mediastinal (?:silhouettes?|contours?|width|structures|shadow)",
        r"mediastinal(?! (?:silhouettes?|contours?|width|structures|shadow|lymph|adenopathy|nodes?|calcifi|mass|"
        r"granulom|clips?|postsurgical|surgical|wires?|postoperative|changes|"
        r"(?:and|or) (?:right |left |bilateral )?hilar (?:lymph|adenopathy|nodes?|masses|granulom|calcifi)))",
    ],
    "Cardiomediastinal": [
        r"cardio ?mediastin\w*(?: silhouettes?| contours?| structures| shadow| size)?",
        r"cardiomediastinum",
        r"cardiopulmonary silhouette",
    ],
}
"""Anatomy words that become a mention of the size classes only together with a size cue in the same clause;
``"Cardiomediastinal"`` words ("cardiomediastinal silhouette") speak about both classes (``ANATOMY_CLASSES``)."""

ANATOMY_CLASSES: dict[str, tuple[str, ...]] = {
    "Cardiomegaly": ("Cardiomegaly",),
    "Enlarged Cardiomediastinum": ("Enlarged Cardiomediastinum",),
    "Cardiomediastinal": ("Enlarged Cardiomediastinum", "Cardiomegaly"),
}
"""The classes an ``ANATOMY`` group speaks about."""

SIZE_CUES: dict[str, list[str]] = {
    "uncertain": [
        r"(?:at )?(?:the )?upper limits? of normal",
        r"upper (?:limits? )?normal",
        r"top(?:-| )normal",
        r"high normal",
        r"borderline(?: enlarged| enlargement| in size)?",
        r"(?:possibly|questionably|possible|questionable|slightly|minimally) (?:enlarged|widened|prominent)",
        r"(?:at |near )?(?:the )?upper (?:range|limits?) of normal",
        r"(?:at |near |of )?(?:the )?xxxx (?:limits? )?of normal",
    ],
    "negative": [
        r"(?:is |are )?not (?:\w+ )?(?:enlarged|widened|dilated)",
        r"(?:no|without) (?:evidence of )?(?:enlargement|widening)",
        r"normal",
        r"normally",
        r"within normal limits",
        r"within (?:the )?limits of normal",
        r"within (?:the )?normal (?:range|limits)",
        r"normal (?:in )?(?:size|caliber)",
        r"unremarkable",
        r"negative",
        r"not remarkable",
        r"nonenlarged",
        r"non-enlarged",
    ],
    "positive": [
        r"(?:mildly |moderately |slightly |markedly )?increased(?= ?(?:[.,;]|$))",
        r"enlarged",
        r"enlargement",
        r"large",
        r"increased in size",
        r"increase in (?:the )?size",
        r"prominent",
        r"prominence",
        r"widened",
        r"widening",
        r"dilated",
        r"abnormal(?! (?:configuration|contours?|shape|position|appearance|orientation))",  # shape is no size
    ],
}
"""Size cues for ``ANATOMY`` mentions, by the polarity they give (checked in this order at one position)."""

SIZE_OF_OTHER: list[str] = [
    r"(?:(?:mildly|moderately|slightly|minimally|markedly|severely|possibly|questionably) )?"
    r"(?:enlarged|prominent|dilated|widened|ectatic)(?: and (?:tortuous|calcified|ectatic|dilated|enlarged))? "
    r"(?:(?!and\b|the\b|is\b|are\b|with\b|of\b)[\w-]+ ){0,2}(?:aorta|aortic (?:arch|knob)|hila|hilum|hilar \w+|"
    r"pulmonary arter\w*|azygos \w+|lymph nodes?|thyroid|esophagus|stomach|bowel)",
]
"""A size word that belongs to a structure named right after it ("Stable heart size, moderately enlarged and
tortuous calcified aorta"): consumed before the size cues so that it sizes no heart / mediastinum anatomy."""

PSEUDO: list[str] = [
    r"no (?:(?:significant|substantial|appreciable|interval|definite|real|other) ){0,3}(?:change|increase|decrease|"
    r"worsening|improvement)",
    r"not (?:only|necessarily|significantly changed)",
    r"without (?:change|difficulty|interval change)",
    r"without (?:significant |substantial |appreciable |definite )?(?:interval )?(?:change|progression)",
    r"no longer",  # "no longer seen" is handled as a post-negation below
    r"gram negative",
    r"not (?:\w+[ -])?(?:identified|seen|visualized|visible|appreciated) on the (?:lateral|frontal|pa|ap) "
    r"(?:view|projection|"
    r"radiograph|image)",
    r"not (?:\w+ )?(?:identified|seen|visualized|visible|appreciated|present|evident|demonstrated) (?:on|in) (?:the )?"
    r"(?:prior|previous|earlier|old|older|comparison)(?: (?:exams?|examinations?|studies|study|films?|radiographs?|"
    r"images?|ct))?",
    r"not (?:\w+ )?(?:identified|seen|visualized|visible|appreciated|present|evident) (?:previously|before|"
    r"on prior|at that time)",
    r"with or without",
    r"whether or not",
    r"(?:confirm|document|allow(?: for)?|assess for|evaluate for) (?:the )?(?:complete )?"
    r"(?:clearing|resolution)(?: of)?",  # a follow-up to confirm the clearing of an opacity affirms it
    r"(?:almost|nearly|largely|partially|partly|incompletely|not completely) (?:completely )?(?:resolved|cleared)",
]
"""Pseudo-triggers: look like a cue but are not (consumed before cues)."""

PRE_UNCERTAIN: list[str] = [
    r"may",
    r"might",
    r"could",
    r"possibl[ey]",
    r"probabl[ey]",
    r"likely",
    r"suspect(?:ed)?",
    r"question(?:able)?(?: of)?",
    r"apparent(?:ly)?",
    r"differential(?: diagnosis)?(?: includes?)?",
    r"cannot (?:be )?(?:excluded?|ruled? out)",
    r"difficult to (?:exclude|rule out)",
    r"(?:can't|can not|could not|cannot) exclude",
    r"can not (?:be )?(?:excluded?|ruled? out)",
    r"not (?:be )?(?:excluded|ruled out)",
    r"cannot rule out",
    r"(?:to )?rule out",
    r"(?:to )?ensure (?:that )?(?:there is )?(?:no|resolution)",
    r"most xxxx",
    *(
        rf"(?<={before})xxxx(?: xxxx)?(?: of)?(?= (?:[\w-]+ ){{0,2}}?(?:atelecta|pneumon|infect|scar|edema|consolidat))"
        for before in (
            ", ",
            "opacity ",
            "opacities ",
            "density ",
            "densities ",
            "disease ",
            "infiltrate ",
            "infiltrates ",
        )
    ),
    r"xxxx represent\w*",
    r"r/o",
    r"equivocal",
    r"indeterminate",
    r"borderline",
    r"presum(?:ed|ably|ptive)",
    r"favou?r(?:ed|s)?",
    r"(?:raising|raises) the possibility of",
    r"possibility of",
    r"consider(?:ed)?",
    r"uncertain",
    r"unclear",
    r"\?",
]
"""Uncertainty cues (hedges) whose scope runs forward to the end of the clause."""

PRE_INDICATION: list[str] = [
    r"(?:to )?suggest(?:s|ive of|ing|ion of)?",
    r"suspicious (?:for|of)",
    r"concern(?:ing)? for",
    r"worrisome for",
    r"(?:to )?indicate",
]
"""Uncertainty cues that defer to an earlier negation in their scope: "no opacity to suggest pneumonia" is a
negated pneumonia, "opacity suggesting pneumonia" an uncertain one."""

UNCERTAIN_MENTIONS: dict[str, list[str]] = {
    "Pneumothorax": [r"deep sulcus sign"],
    "Pleural Effusion": [
        r"blunting of the (?:\w+ ){0,2}(?:costophrenic|cp|posterior|lateral)? ?(?:angles?|sulcus|sulci|xxxx|recess)",
        r"(?:costophrenic|cp|sulcus|sulci)(?: angles?| sulcus| sulci| xxxx)? blunting",
        r"blunted (?:\w+ ){0,2}(?:costophrenic|cp) (?:angles?|sulcus|sulci|xxxx)",
        r"(?:costophrenic|cp) (?:angles?|sulcus|sulci|xxxx) (?:is |are |appears? |remains? )?"
        r"(?:\w+ ){0,2}blunt(?:ed|ing)",
        r"blunting",
    ],
    "Fracture": [r"(?:healing )?callus(?: formation)?"],
    "Lung Lesion": [r"mass-?like"],
}
"""Signs that suggest but do not establish a finding: an affirmed one is uncertain (blunted costophrenic angle ->
small effusion or pleural thickening), a negated one negative."""

NEGATED_MENTIONS: dict[str, list[str]] = {
    "Edema": [
        r"(?:central )?(?:pulmonary |lung )?(?:vasculature|vessels|veins) (?:is |are |appears? |appear to be )?not "
        r"(?:\w+ )?(?:engorged|congested|distended)",
        r"(?:central )?pulmonary xxxx (?:is |are |appears? |appear to be )?not (?:\w+ )?(?:engorged|congested|"
        r"distended)",
    ],
    "Pleural Effusion": [
        r"(?:costophrenic|cp) (?:angles?|sulcus|sulci|recess(?:es)?|xxxx) (?:are |is |appears? |remains? )(?:\w+ )?"
        r"(?:clear|sharp)",
    ],
}
"""Statements that deny a finding by their own words ("the left costophrenic XXXX is clear"): an affirmed one is
negative (a negated or hedged one keeps its cue's polarity)."""

POST_UNCERTAIN: list[str] = [
    r"(?:is |are )?(?:not (?:entirely |completely )?(?:excluded|ruled out))",
    r"(?:cannot|can not|could not) (?:be )?(?:entirely |completely )?(?:excluded|ruled out)",
    r"(?:is|are) (?:possible|suspected|questioned|not excluded|in the differential|(?:a |also a )?considerations?)",
    r"(?:is |are )?difficult to (?:exclude|rule out)",
    r"(?:is |are )?not (?:entirely |completely )?(?:excluded|ruled out)",
    r"could be (?:present|considered)",
    r"(?:is |are )?not well (?:seen|demonstrated|visualized|evaluated|assessed)",
    r"(?:may|might|can|could) not be (?:\w+ )?(?:seen|demonstrated|visualized|visible|detected|apparent|evident)",
    r"may be present",
]
"""Uncertainty cues whose scope runs backward to the start of the clause."""

ALTERNATIVE_OR: list[str] = [r"or"]
"""A bare "or" between affirmed findings ("atelectasis or infiltrate") makes both uncertain; it never overrides a
negation or hedge ("no effusion or pneumothorax" stays negative)."""

ALTERNATIVE_SLASH: list[str] = [
    r"(?:(?<=[a-z])|(?<=[a-z] ))/ ?(?:(?:subsegmental|segmental|linear|plate-?like|patchy|focal|basilar|bibasilar|"
    r"minimal|mild) )?(?=(?:atelecta|infiltrat|air ?space|scar|fibro|consolidat|pneumoni|infect|opacit|"
    r"collapse))",
]
"""A slash between two different readings ("atelectasis/infiltrate", "scarring/atelectasis", "atelectatic/fibrotic")
is a bare "or" for the two words it joins only (not a longer reach); a slash between synonyms of one finding
("pleural scarring/thickening", "effusion/hemothorax") is none: the word after it must name another reading."""

ALTERNATIVES: list[str] = [r"versus", r"vs\.?", r"and/or", r"or possibly", r"or less likely"]
"""Alternatives ("atelectasis versus scarring"): uncertain forward like a hedge, and backward for the mention
right before them only."""

PRE_NEGATION: list[str] = [
    r"no",
    r"(?:no|without) apparent",  # longer than "apparent" (a hedge): "no apparent pneumothorax" is a denial
    r"clearing of",
    r"clear(?= (?:focal |acute )?(?:air ?space|consolidation|infiltrat|opacit|edema|effusion))",  # "clear [of] X"
    r"not",
    r"without",
    r"negative for",
    r"free of",
    r"clear of",
    r"absence of",
    r"absent",
    r"resolution of",
    r"resolved",
    r"removal of",
    r"rather than",
    r"nor",
    r"none",
]
"""Negation cues whose scope runs forward to the end of the clause."""

LEADING_NEGATION: list[str] = [
    r"(?:(?:essentially|completely|now|interval(?:ly)?) )?(?:resolved|cleared)"
    r"(?= (?!(?:since|on|in|from|with|and|or|compared|when|at|by|as|over|after|than|the|completely|entirely)\b)[a-z])",
]
"""A participle before the finding it denies ("Essentially resolved bibasilar atelectasis", "Cleared left lower lobe
airspace disease"): a pre-negation, where the same word after the finding ("the effusion has resolved", "resolved in
the interval") is a post-negation. "Almost completely resolved" is a pseudo-trigger (the finding is still there)."""

POST_NEGATION: list[str] = [
    r"(?:are |is )?artifactual",
    r"(?:is |are |was |were )?not (?:\w+[ -])?(?:seen|identified|visualized|demonstrated|present|appreciated|noted|"
    r"evident|detected|apparent|visible|shown)",
    r"(?:is |are )?no longer (?:\w+ )?(?:seen|identified|visualized|present|evident|visible)",
    r"(?:is |are )?absent",
    r"(?:has |have )?(?:since |interval(?:ly)? )?resolved",
    r"(?:has |have )(?:since |interval(?:ly)? )?cleared",
    r"(?:has |have )?(?:been )?removed",
    r"(?:is |are )?negative(?! for)",
    r"(?:appears?|is|are|remains?) within (?:the )?(?:normal limits|limits of normal)",
    r"(?:(?:is|are|likely|probably|most likely|xxxx) )?(?:related|due|secondary|attributable) to (?:\w+ ){0,2}"
    r"(?:overlying |superimposed )?(?:soft tissues?|technique|low lung volumes|breast tissue|nipples?|positioning|"
    r"rotation|body habitus|overlap\w*|xxxx shadows?)",
    r", (?:xxxx |likely |probably |most likely |consistent with |compatible with |representing )?(?:a |the )?"
    r"nipple (?:shadows?|xxxx)",
    r"(?:(?:likely|probably|most likely|xxxx|which is|represents?|representing|consistent with|compatible with|"
    r"due to|from) )+(?:a |an )?(?:skin ?folds?|overlying (?:clothing|artifact))(?: artifact)?",
]
"""Negation cues whose scope runs backward to the start of the clause."""

TERMINATORS: list[str] = [
    r"but",
    r"however",
    r"although",
    r"though",
    r"yet",
    r"except(?: for)?",
    r"aside from",
    r"apart from",
    r"other than",
    r"besides",
    r"which",
    r"whereas",
    r"while",
    r";",
    r":",
    r", (?:with|and|there (?:is|are|has been|have been|may be)|also|mild|moderate|severe|minimal|trace|new|"
    r"increased|persistent|stable|small|large|consistent|healed|old|chronic|remote)",
    r"(?:and|with) (?:there (?:is|are)|the)",
    r"with an?",
    r"with (?:increased|new|worsening|worsened|improved|persistent|residual|interval|bilateral|small|large|moderate|"
    r"mild|minimal|trace)",
]
"""Scope terminators (NegEx): a cue's scope never crosses one. The ", mild" style entries end a negated list
before an affirmed finding ("No pneumothorax, mild cardiomegaly")."""

NEGATION_TEMPLATES: tuple[str, ...] = (
    "No {f}.",
    "There is no {f}.",
    "There is no evidence of {f}.",
    "No {f} is seen.",
    "No evidence of {f}.",
)
"""Generic templates of a negative statement; ``{f}`` is a phrase from ``NEGATION_PHRASES``
(:func:`cxrvlp.text.negation.negative_statements`)."""

NEGATION_PHRASES: dict[str, str] = {
    "Enlarged Cardiomediastinum": "mediastinal widening",
    "Cardiomegaly": "cardiomegaly",
    "Lung Opacity": "lung opacity",
    "Lung Lesion": "pulmonary nodule or mass",
    "Edema": "pulmonary edema",
    "Consolidation": "consolidation",
    "Pneumonia": "pneumonia",
    "Atelectasis": "atelectasis",
    "Pneumothorax": "pneumothorax",
    "Pleural Effusion": "pleural effusion",
    "Pleural Other": "pleural thickening",
    "Fracture": "fracture",
    "Support Devices": "support device",
}
"""The finding as written in a generic negative statement (each must be a mention of exactly its own class)."""

ADJECTIVE_NOUNS: dict[str, str] = {
    "nodular": "nodular lesion",
    "cavitary": "cavitary lesion",
    "atelectatic": "atelectatic changes",
    "consolidative": "consolidative changes",
    "infectious": "infectious process",
}
"""A mention that is only an adjective ("a 3 cm nodular infiltrate" minus the infiltrate) is rebuilt with a noun of
its own class ("Nodular lesion.", not "Nodular.")."""

NEGATION_SUBTYPES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "Enlarged Cardiomediastinum": [
        (
            r"",
            (
                "The mediastinum is not widened.",
                "No mediastinal widening.",
                "There is no mediastinal enlargement.",
                "The mediastinum is not enlarged.",
            ),
        ),
    ],
    "Cardiomegaly": [
        (
            r"",
            (
                "No cardiomegaly.",
                "The heart is not enlarged.",
                "There is no cardiomegaly.",
                "The cardiac silhouette is not enlarged.",
                "No enlargement of the cardiac silhouette.",
            ),
        ),
    ],
    "Lung Opacity": [
        (r"marking", ("No increased interstitial markings.", "No increased lung markings.")),
        (
            r"interstiti|reticul",
            ("No interstitial opacities.", "There are no interstitial opacities.", "No interstitial opacity is seen."),
        ),
        (
            r"air ?space (?:disease|process)",
            ("There is no airspace disease.", "No evidence of airspace disease.", "No airspace disease is seen."),
        ),
        (
            r"air ?space",
            ("No airspace opacity.", "No airspace opacity is seen.", "There is no airspace opacity."),
        ),
        (
            r"infiltrat",
            ("No infiltrates.", "There are no pulmonary infiltrates.", "No infiltrate is seen."),
        ),
        (r"alveolar", ("No alveolar opacities.", "There is no alveolar opacity.", "No alveolar opacity is seen.")),
        (
            r"",
            (
                "No lung opacity.",
                "There is no pulmonary opacity.",
                "No lung opacities are seen.",
                "The lungs are free of opacities.",
            ),
        ),
    ],
    "Lung Lesion": [
        (
            r"mass|tumou?r|neoplasm|carcinoma",
            (
                "No lung mass or nodule.",
                "There is no pulmonary mass or nodule.",
                "No mass or nodule is seen.",
                "No mass lesion in the lungs.",
            ),
        ),
        (r"malignan|metasta", ("No metastatic lung lesions.", "There is no malignant-appearing lung lesion.")),
        (r"cavit", ("No cavitary lesion.", "There is no cavitary lung lesion.")),
        (
            r"nodul",
            (
                "No pulmonary nodules or masses.",
                "There is no pulmonary nodule or mass.",
                "No lung nodule or mass is seen.",
                "No nodular lung lesion.",
            ),
        ),
        (
            r"",
            ("No lung lesion.", "There is no pulmonary nodule or mass.", "No lung lesion is seen."),
        ),
    ],
    "Edema": [
        (
            r"congest|engorge|cephaliz|hypertension|engorged",
            (
                "No pulmonary vascular congestion.",
                "There is no vascular congestion.",
                "No pulmonary venous congestion is seen.",
            ),
        ),
        (
            r"failure|chf|overload",
            (
                "No evidence of congestive heart failure or pulmonary edema.",
                "No findings of heart failure or edema.",
                "No fluid overload or pulmonary edema.",
            ),
        ),
        (
            r"interstiti",
            ("No interstitial edema.", "There is no interstitial pulmonary edema.", "No pulmonary edema."),
        ),
        (
            r"",
            ("No pulmonary edema.", "There is no pulmonary edema.", "No edema is seen.", "No evidence of edema."),
        ),
    ],
    "Consolidation": [
        (
            r"",
            (
                "No consolidation.",
                "There is no consolidation.",
                "No consolidation is seen.",
                "No evidence of consolidation.",
            ),
        ),
    ],
    "Pneumonia": [
        (
            r"",
            (
                "No pneumonia.",
                "There is no pneumonia.",
                "No evidence of pneumonia.",
                "No findings to suggest pneumonia.",
            ),
        ),
    ],
    "Atelectasis": [
        (r"collapse", ("No lobar collapse.", "There is no lung collapse.", "No collapse is seen.")),
        (
            r"",
            ("No atelectasis.", "There is no atelectasis.", "No atelectasis is seen.", "No evidence of atelectasis."),
        ),
    ],
    "Pneumothorax": [
        (
            r"",
            (
                "No pneumothorax.",
                "There is no pneumothorax.",
                "No pneumothorax is seen.",
                "No evidence of pneumothorax.",
            ),
        ),
    ],
    "Pleural Effusion": [
        (
            r"",
            (
                "No pleural effusion.",
                "There is no pleural effusion.",
                "No pleural effusions are seen.",
                "No pleural fluid.",
                "No evidence of pleural effusion.",
            ),
        ),
    ],
    "Pleural Other": [
        (r"plaque", ("No pleural plaques.", "There are no calcified pleural plaques.", "No pleural plaques are seen.")),
        (r"calcif", ("No pleural calcifications.", "There is no pleural calcification.")),
        (r"scar|parenchymal", ("No pleural scarring.", "There is no pleural-parenchymal scarring.")),
        (r"", ("No pleural thickening.", "There is no pleural thickening.", "No pleural thickening is seen.")),
    ],
    "Fracture": [
        (
            r"",
            (
                "No {a}fracture.",
                "There is no {a}fracture.",
                "No {a}fractures are seen.",
                "There are no {a}fractures.",
            ),
        ),
    ],
    "Support Devices": [
        (r"", ("No {d}.", "There is no {d}.", "No {d} is seen.", "No {d} is present.")),
    ],
}
"""Negative statements per finding and subtype: ``(pattern, templates)``, the first pattern found in the asserting
mention's noun phrase wins ("interstitial opacities" -> "No interstitial opacities.", "healed rib fracture" ->
"No rib fracture."). ``{a}`` is the fractured bone ("rib "), ``{d}`` the device(s) named in the report
(``DEVICE_NAMES``); statements with a plural subject (``{d}`` plural) switch "is" to "are"."""

FRACTURE_SITES: list[tuple[str, str]] = [
    (r"\brib", "rib "),
    (r"clavic", "clavicle "),
    (r"compression|vertebr|spine|spinal|thoracic|lumbar", "compression "),
    (r"humer", "humeral "),
    (r"stern", "sternal "),
    (r"scapul", "scapular "),
]
"""Bone of a fracture mention (searched in its noun phrase) -> the word the negative statement names."""

DEVICE_NAMES: list[tuple[str, str]] = [
    (r"sternotomy|sternal wire|cerclage", "sternotomy wires"),
    (r"\b(?:a?icd|defibrillator)", "cardiac defibrillator"),
    (r"pace|pacing|generator", "pacemaker"),
    (r"monitor|\becg\b|\bekg\b|electrode", "monitoring leads"),
    (r"leads?\b", "cardiac device leads"),
    (r"picc", "PICC line"),
    (r"endotracheal|\bet tube", "endotracheal tube"),
    (r"tracheostomy", "tracheostomy tube"),
    (r"nasogastric|\bng\b|orogastric|\bog\b|enteric|feeding", "enteric tube"),
    (r"chest tube|thoracostomy", "chest tube"),
    (r"xxxx-a-xxxx|\bport", "chest port"),
    (r"central|jugular|\bij\b|subclavian|venous|catheter|\btip|swan|dialysis|line", "central venous catheter"),
    (r"clip", "surgical clips"),
    (r"stent", "stents"),
    (r"valve", "prosthetic valve"),
    (r"breast prosthes", "breast prostheses"),  # the report's own word
    (r"breast implant|(?:silicone|saline) implant", "breast implants"),
    (r"hardware|screw|plate|rod|fusion|fixation|prosthes|arthroplast", "orthopedic hardware"),
    (r"stimulator", "stimulator device"),
    (r"staple", "surgical staples"),
    (r"coil", "embolization coils"),
    (r"filter", "IVC filter"),
    (r"shunt", "shunt catheter"),
    (r"drain", "drains"),
    (r"tube", "tubes"),
]
"""Device named by a Support Devices mention (searched in its noun phrase) -> the device a negative statement denies;
none found -> "support devices"."""

TEMPORAL: list[str] = [
    r"(?:(?:is|are|appears?|remains?|has|have) )?(?:grossly |essentially |otherwise )?unchanged"
    r"(?: (?:from|since|compared (?:to|with)) (?:the )?(?:prior|previous|last|recent)[\w ]*?(?=[,.;]|$))?",
    r"(?:which |that )?(?:has |have )?(?:slightly |mildly |minimally |significantly )?(?:increased|decreased) in "
    r"(?:size|extent|conspicuity)(?= (?:from|since|compared|when compared|in comparison|than)\b)",
    r"(?:(?:as )?compared (?:to|with)|in comparison (?:to|with)|when compared (?:to|with)|since|from|than on)"
    r" (?:the |a )?(?:prior|previous|last|recent|most recent|earlier|preceding|old|xxxx)[\w ]*?(?=[,.;]|$)",
    r"(?:is |are )?again (?:seen|noted|demonstrated|visualized|identified|present)",
    r"redemonstrat\w*(?: of)?",
    r"(?:is |are |appears? |remains? )?(?:grossly |essentially |overall )?stable(?: in (?:size|appearance))?"
    r"(?: and)?",
    r"(?:there has been |with )?(?:an |the )?interval (?:improvement|worsening|increase|decrease|change|"
    r"development|appearance)(?: in| of)?",
    r"interval(?= (?:resolution|removal|placement))",
    r"(?:has |have )?(?:slightly |minimally |mildly |significantly )?(?:improved|worsened|progressed)",
    r"(?:in|over) the interval",
    r"persistent(?:ly)?",
    r"new(?:ly)?",
    r"previously (?:seen|noted|described|demonstrated)",
    r"no (?:significant |substantial |appreciable )?(?:interval )?change",
    r"(?:appears? )?similar(?: to (?:the )?(?:prior|previous)[\w ]*?(?=[,.;]|$))?",
]
"""Temporal / comparison phrases stripped from statements (Sec. 3 of Ko & Park removes such information)."""

OBSERVATION_WORDS: list[str] = [
    r"granulom\w*",
    r"scar\w*",
    r"emphysema\w*",
    r"copd",
    r"hyperinfla\w*",
    r"hyperexpan\w*",
    r"degenera\w*",
    r"arthriti\w*",
    r"spondylo\w*",
    r"kypho\w*",
    r"scolio\w*",
    r"tortu\w*",
    r"calcifi\w*",
    r"atheroscl\w*",
    r"hernia\w*",
    r"lucen\w*",
    r"adenopath\w*",
    r"fibros\w*",
    r"bronchiecta\w*",
    r"elevat\w*",
    r"deformit\w*",
    r"eventration",
    r"contrast",
    r"air",
    r"prominen\w*",
    r"enlarg\w*",
    r"densit\w*",
    r"opaci\w*",
    r"markings?",
    r"thicken\w*",
    r"lesions?",
    r"nodul\w*",
    r"mass\w*",
    r"effusions?",
    r"fluid",
    r"widen\w*",
    r"wires?",
    r"lines?",
    r"tubes?",
    r"clear",
    r"normal",
    r"unremarkable",
    r"low",
    r"volumes?",
    r"ectasia",
    r"dilat\w*",
    r"osteopeni\w*",
    r"fusion",
    r"surgical",
    r"postoperative",
]
"""Words that make a sentence more than a comparison even when the labeler finds none of the 13 findings in it
("Stable calcified granuloma within the lingula.", "Large hiatal hernia, increased in size from prior exam."):
:func:`cxrvlp.text.statements.strip_temporal` keeps such a sentence without its temporal phrases."""

# ---- report graphs (RadGraph-like) ----

GRAPH_ANATOMY: list[str] = [
    r"lungs?",
    r"lung (?:bases?|apex|apices|zones?|fields?|volumes?)",
    r"(?:upper|middle|lower|mid) lobes?",
    r"(?:upper|middle|lower|mid) lung(?: zones?| fields?)?",
    r"lobes?",
    r"lingula(?:r)?",
    r"bases?",
    r"apex",
    r"apices",
    r"(?:bi)?basilar",
    r"(?:bi)?apical",
    r"retrocardiac",
    r"perihilar",
    r"(?:bi)?hil(?:um|a|ar)",
    r"heart",
    r"cardiac (?:silhouette|contours?|size|shadow|border)",
    r"cardio ?mediastin\w*(?: silhouettes?| contours?)?",
    r"mediastin(?:um|al)(?: silhouettes?| contours?)?",
    r"pleura(?:l (?:spaces?|surfaces?))?",
    r"(?:costophrenic|cp) (?:angles?|sulcus|sulci)",
    r"(?:hemi)?diaphragms?",
    r"trachea",
    r"aort(?:a|ic (?:arch|knob|knuckle))",
    r"(?:pulmonary )?vasculature",
    r"(?:pulmonary )?vascularity",
    r"(?:thoracic |lumbar |cervical )?spine",
    r"vertebra(?:e|l bod(?:y|ies))?",
    r"ribs?",
    r"clavicles?",
    r"sternum",
    r"scapulae?",
    r"humer(?:us|al head)",
    r"shoulders?",
    r"chest(?: wall)?",
    r"thorax",
    r"(?:osseous|bony|skeletal) structures",
    r"soft tissues?",
    r"svc",
    r"(?:right |left )?(?:atrium|ventricle)",
    r"(?:right |left )?upper quadrant",
    r"fissure",
]
"""Anatomy entities (with the laterality / position words before them in ``GRAPH_LOCATION_PREFIX``)."""

GRAPH_LOCATION_PREFIX = (
    r"(?:(?:left|right|bilateral|both|upper|middle|lower|mid|medial|lateral|posterior|anterior)[ -]){0,3}"
)

GRAPH_OBSERVATIONS: list[str] = [
    r"granulomas?",
    r"granulomatous (?:disease|process)",
    r"scar(?:ring|s)?",
    r"emphysema(?:tous changes)?",
    r"copd",
    r"hyperinflat(?:ion|ed)",
    r"hyperexpan(?:sion|ded)",
    r"(?:degenerative|arthritic|senescent) changes?",
    r"spondylosis",
    r"kyphosis",
    r"scoliosis",
    r"tortu(?:ous|osity)",
    r"calcifications?",
    r"atherosclero(?:sis|tic)",
    r"hernia",
    r"lucency",
    r"(?:lymph)?adenopathy",
    r"fibrosis",
    r"bronchiectasis",
    r"clear",
    r"normal",
    r"unremarkable",
    r"intact",
    r"midline",
    r"low lung volumes",
    r"(?:acute )?(?:cardiopulmonary |osseous |bony |pulmonary )?"
    r"(?:abnormality|abnormalities|disease|process|findings?)",
    r"deformity",
    r"crowding",
]
"""Observations outside the 14 classes that a report graph still records."""

GRAPH_MODIFIERS: list[str] = [
    r"mild(?:ly)?",
    r"moderate(?:ly)?",
    r"severe(?:ly)?",
    r"small",
    r"large",
    r"minimal",
    r"trace",
    r"tiny",
    r"patchy",
    r"streaky",
    r"focal",
    r"diffuse",
    r"subsegmental",
    r"linear",
    r"dense",
    r"calcified",
    r"chronic",
    r"acute",
    r"bandlike",
    r"plate-?like",
    r"nodular",
    r"interstitial",
    r"confluent",
    r"ill-defined",
]
"""Modifiers linked to the next observation by a ``modify`` relation."""

GRAPH_SUGGESTIVE: list[str] = [
    r"suggest(?:s|ive of|ing)?",
    r"(?:may |could |likely |most likely )?represent(?:s|ing)?",
    r"(?:may |likely )?reflect(?:s|ing)?",
    r"consistent with",
    r"compatible with",
    r"concerning for",
    r"worrisome for",
    r"suspicious for",
    r"(?:likely |probably )?(?:due to|secondary to|related to)",
    r"indicat(?:e|es|ing|ive of)",
    r"likely",
]
"""Cues of a ``suggestive_of`` relation from the observation before them to the one after them."""
